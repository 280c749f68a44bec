"""Scoring a classifier on a class-folder set: one picture per distinct slice, calibrated and not.

``evaluate_classifier`` reads the set (class folders named as the model's classes, or beginning with
them: the source's own "adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib" counts as "adenocarcinoma"), groups copies of
one slice (``data.slice_groups``) and scores one
representative per group, so a slice stored ten times counts once. ``subset`` "test"/"val"/"train"
takes the checkpoint's own split of that set (the set it was trained on); "all" every picture (a
held-out set); None (the default) "test" for the set the model was trained on, "all" for any other. It returns a
``ClassEvaluation``: per-slice predictions, the scores (accuracy, balanced
accuracy, per-class precision/recall/F1, macro-F1, confusion), calibration (ECE and NLL with and
without the stored temperature, reliability bins) and the best and worst examples with their Grad-CAM
maps. The report layer draws the figures and the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lungseg.errors import InputError
from lungseg.inference.classify.classifier import ImageClassifier
from lungseg.metrics import (
    ClassificationScores,
    classification_metrics,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
    softmax,
)


@dataclass(frozen=True)
class Example:
    """A scored slice with its picture and heat map (for the report)."""

    name: str
    truth: str
    predicted: str
    confidence: float
    truth_probability: float
    picture: np.ndarray
    heat: np.ndarray


@dataclass(frozen=True)
class ClassEvaluation:
    names: list[str]
    truth: np.ndarray
    probabilities: np.ndarray  # calibrated (N, K)
    uncalibrated: np.ndarray  # (N, K)
    class_names: tuple[str, ...]
    scores: ClassificationScores
    calibration: dict
    bins_before: list = field(default_factory=list)
    bins_after: list = field(default_factory=list)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    source: str = ""

    def summary(self) -> dict:
        return {
            "model": self.source,
            "slices": len(self.names),
            **self.scores.to_dict(),
            "calibration": self.calibration,
        }

    def prediction_rows(self) -> list[list]:
        predicted = self.probabilities.argmax(1)
        return [
            [
                name,
                self.class_names[t],
                self.class_names[p],
                round(float(self.probabilities[i, p]), 4),
                *[round(float(v), 4) for v in self.probabilities[i]],
            ]
            for i, (name, t, p) in enumerate(zip(self.names, self.truth, predicted))
        ]


def evaluate_classifier(
    model: str | Path | ImageClassifier, data: str | Path, subset: str | None = None, examples: int = 3, log=print
) -> ClassEvaluation:
    from lungseg.data.class_dataset import representatives  # lungseg.data imports PyTorch
    from lungseg.data.class_folders import find_labelled_images, read_picture, relabelled
    from lungseg.data.slice_groups import group_slices

    classifier = model if isinstance(model, ImageClassifier) else ImageClassifier.load(model, check_inputs=False)
    images = {item.name: item for item in relabelled(find_labelled_images(data), classifier.class_names, data)}
    names = _subset_names(classifier, images, subset, data)
    read = {name: read_picture(images[name].path) for name in names}
    groups = group_slices([images[n] for n in names], [read[n].gray for n in names])
    names = [n for n in representatives(groups.usable(), groups.group_of)]
    if not names:
        raise InputError(data, f"no usable pictures in subset {subset!r}")
    log(f"scoring {len(names)} distinct slices ({len(read)} files) of {data} [{subset}]")
    truth = np.array([classifier.class_names.index(images[n].label) for n in names])
    logits = np.concatenate(
        [classifier.logits([read[n].gray for n in names[i : i + 32]]) for i in range(0, len(names), 32)]
    )
    raw, calibrated = softmax(logits), softmax(logits, classifier.temperature)
    scores = classification_metrics(truth, calibrated.argmax(1), classifier.class_names)
    calibration = {
        "temperature": classifier.temperature,
        "ece_uncalibrated": expected_calibration_error(raw, truth),
        "ece_calibrated": expected_calibration_error(calibrated, truth),
        "nll_uncalibrated": negative_log_likelihood(raw, truth),
        "nll_calibrated": negative_log_likelihood(calibrated, truth),
    }
    chosen = _examples(classifier, names, truth, calibrated, read, images, examples)
    return ClassEvaluation(
        names,
        truth,
        calibrated,
        raw,
        classifier.class_names,
        scores,
        calibration,
        reliability_bins(raw, truth, bins=10),
        reliability_bins(calibrated, truth, bins=10),
        chosen,
        str(classifier.source),
    )


def _subset_names(classifier: ImageClassifier, images: dict, subset: str | None, data) -> list[str]:
    split = classifier.card.split
    if subset is None:  # the set the model was trained on: its test part; any other set: all of it
        trained_on = split is not None and any(name in images for name in split.train)
        subset = "test" if trained_on else "all"
    if subset == "all":
        return sorted(images)
    if split is None:
        raise InputError(
            classifier.source,
            f"the model stores no split, so subset {subset!r} is unknown; use --split all on a held-out set",
        )
    wanted = split.subset(subset)
    if not wanted:
        raise InputError(
            classifier.source,
            f"the model's split {split.spec!r} has no {subset!r} part; use another "
            "--split, or --split all on a held-out set",
        )
    names = [name for name in wanted if name in images]
    if not names:
        raise InputError(
            data,
            f"none of the {len(wanted)} pictures of the model's {subset!r} split are in this "
            "folder (is it the set the model was trained on?)",
        )
    return names


def _examples(classifier, names, truth, probabilities, read, images, count) -> dict[str, list[Example]]:
    """The most confident correct slices ("best") and the slices with the lowest probability for their
    true class ("worst"), each with the Grad-CAM map of the predicted class."""
    truth_probability = probabilities[np.arange(len(names)), truth]
    predicted = probabilities.argmax(1)
    correct = np.flatnonzero(predicted == truth)
    best = correct[np.argsort(-probabilities[correct, truth[correct]])][:count]
    worst = np.argsort(truth_probability)[:count]

    def example(i: int) -> Example:
        picture = read[names[i]].gray
        label = classifier.class_names[predicted[i]]
        return Example(
            names[i],
            images[names[i]].label,
            label,
            float(probabilities[i, predicted[i]]),
            float(truth_probability[i]),
            picture,
            classifier.heat_map(picture, label),
        )

    return {"best": [example(i) for i in best], "worst": [example(i) for i in worst]}
