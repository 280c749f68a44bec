"""Cancer-type classification of one uploaded CT slice picture: screening, running and the result files.

The classifier (``inference.classify.classifier.ImageClassifier``) takes single axial slice pictures only: an
uploaded volume or DICOM series is refused with the reason before a job is queued. The result folder
holds ``picture.png`` (the de-identified gray picture the model saw, marks painted out),
``heat_map.png`` (Grad-CAM of the predicted class over it) and ``classification.json`` (calibrated
probabilities, prediction, confidence, the answer, "uncertain" below the model's abstention threshold,
the expected accuracy on new scans, findings, model, disclaimer; shown percentages never say 100 %),
written to a staging folder that is renamed into place at the end, as segmentation results are.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from pathlib import Path

import numpy as np

from lungseg import __version__
from lungseg.errors import InputError
from lungseg.inference.classify.classifier import ImageClassifier
from lungseg.inference.core.checks import raise_refusals
from lungseg.inference.core.predictor import read_card
from lungseg.io import write_png
from lungseg.io.shipped import shipped_models
from lungseg.metrics.abstention import shown_percent
from lungseg.preprocessing.display import heat_overlay
from lungseg.screening import DISCLAIMER
from lungseg.web.result_folder import result_staging

REPORT = "classification.json"
_cache: dict[str, object] = {}
_lock = threading.Lock()


@functools.cache
def is_classifier(model: str) -> bool:
    """Whether the shipped model ``model`` is an image classifier, as its model card says (read once per
    process, from the ONNX metadata); ``auto`` is the CT or X-ray lung segmenter."""
    return model in shipped_models() and read_card(model).task == "classification"


def classifier_for(model: str):
    with _lock:
        if model not in _cache:
            _cache[model] = ImageClassifier.load(model)
        return _cache[model]


def screen(path: Path, kind: str, model: str) -> None:
    """Refuse (``InputError``) what the classifier cannot take: anything but one slice picture, pixels
    that are not an 8-bit picture, or a picture both input checks find unlike a chest CT slice of the
    training set (``ImageClassifier.input_findings``: a chest X-ray, a microscopy image)."""
    if kind != "slice":
        raise InputError(
            path,
            f"this is a CT {'series' if kind == 'dicom-series' else 'volume'}; the {model} "
            "model was trained on single axial slice pictures and cannot label a whole scan: "
            "upload one exported slice (PNG/JPG)",
        )
    classifier = classifier_for(model)
    picture = classifier.read(path).gray
    classifier.card.plan.check(picture, path)
    raise_refusals(classifier.input_findings(picture, str(path)), path)


def run(folder: Path, input_path: Path, model: str, progress) -> dict:
    """Classify the picture, write the result folder; returns the summary kept in the database."""
    start = time.perf_counter()
    progress(0.1, "reading the picture")
    classifier = classifier_for(model)
    read = classifier.read(input_path)
    picture = read.gray
    progress(0.3, "classifying")
    prediction = classifier.apply(read, source=str(input_path))
    raise_refusals(list(prediction.findings), input_path)
    progress(0.6, "computing the heat map")
    heat = classifier.heat_map(picture, prediction.predicted)
    with result_staging(folder) as staging:
        write_png(staging / "picture.png", np.asarray(picture, np.uint8))
        write_png(staging / "heat_map.png", heat_overlay(np.asarray(picture, np.uint8), heat))
        report = {
            **prediction.to_dict(),
            "source": "upload",
            "model": model,
            "disclaimer": DISCLAIMER,
            "calibration": dict(classifier.card.calibration),
            "seconds": round(time.perf_counter() - start, 2),
            "class_names": list(classifier.class_names),
        }
        (staging / REPORT).write_text(json.dumps(report, indent=2))
    progress(1.0, "done")
    return summary_of(report)


def summary_of(report: dict) -> dict:
    found = {
        key: report[key]
        for key in (
            "predicted",
            "confidence",
            "probabilities",
            "uncalibrated_probabilities",
            "temperature",
            "flagged_not_chest_ct",
            "class_names",
        )
    }
    # reports written before abstention: the answer is the prediction, the display still capped
    found.update(
        {
            "answer": report.get("answer", report["predicted"]),
            "uncertain": report.get("uncertain", False),
            "shown_confidence": report.get("shown_confidence") or shown_percent(report["confidence"]),
            "shown_probabilities": report.get("shown_probabilities")
            or {k: shown_percent(v) for k, v in report["probabilities"].items()},
            "shown_uncalibrated": {k: shown_percent(v) for k, v in report["uncalibrated_probabilities"].items()},
            **{
                key: report.get(key)
                for key in (
                    "abstention_threshold",
                    "expected_accuracy_new_scans",
                    "expected_balanced_accuracy_new_scans",
                )
            },
            "expected_note": report.get("expected_note", "not measured on unseen scans"),
            "display_cap": report.get("display_cap", 0.99),  # reports written before the cap was recorded
        }
    )
    return {
        "classification": found,
        "findings": report["findings"],
        "seconds": report["seconds"],
        "disclaimer": report["disclaimer"],
        "models": [report["model"]],
        "lungseg_version": __version__,
        "status": "done",
    }
