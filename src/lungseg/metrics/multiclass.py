"""Per-class metrics of K-class label maps, with the empty-mask policy applied per class.

Each foreground class c is scored as the binary pair (prediction == c, truth == c) by
``segmentation_metrics``, so the policy of ``functional`` holds class by class: a class absent from
both the truth and the prediction of a slice is a perfect result for that class, and that slice is
counted in the class's ``n_empty_gt`` (lesion slices often lack one class, or both). The summary gives
each class's statistics and ``mean_foreground``: per metric, the mean over foreground classes of the
class means (the usual "mean Dice"), with each class's empty-truth slices counted apart as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lungseg.metrics.accumulator import MetricAccumulator
from lungseg.metrics.functional import METRIC_NAMES, segmentation_metrics


def per_class_metrics(
    prediction: np.ndarray,
    truth: np.ndarray,
    classes: Sequence[int],
    spacing: Sequence[float] | None = None,
    with_hd95: bool = True,
) -> dict[int, dict[str, float]]:
    """``prediction``/``truth``: integer label maps of one shape; ``classes``: the foreground values to
    score -> {class: metrics of ``segmentation_metrics``}."""
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    return {int(c): segmentation_metrics(prediction == c, truth == c, spacing, with_hd95) for c in classes}


class MultiClassAccumulator:
    """``add(name, per_class)`` per sample (the output of ``per_class_metrics``), then ``summary()``;
    ``class_names`` maps each foreground class to its name."""

    def __init__(self, class_names: Mapping[int, str]):
        if not class_names or 0 in class_names:
            raise ValueError("class_names maps the foreground classes (1..K-1) to names; 0 is background")
        self.class_names = dict(class_names)
        self.by_class = {c: MetricAccumulator() for c in self.class_names}

    def add(self, name: str, per_class: Mapping[int, Mapping[str, float]]) -> None:
        missing = set(self.class_names) - set(per_class)
        if missing:
            raise ValueError(f"sample {name!r} lacks metrics for class(es) {sorted(missing)}")
        for c, accumulator in self.by_class.items():
            accumulator.add(name, dict(per_class[c]))

    def __len__(self) -> int:
        return len(next(iter(self.by_class.values())))

    def summary(self) -> dict:
        classes = {self.class_names[c]: {**acc.summary(), "class": c} for c, acc in self.by_class.items()}
        mean = {}
        for metric in METRIC_NAMES:
            means = [section[metric]["mean"] for section in classes.values() if section[metric]["mean"] is not None]
            mean[metric] = float(np.mean(means)) if means else None
        return {"n": len(self), "classes": classes, "mean_foreground": mean}
