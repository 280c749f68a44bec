"""Metrics of single-label K-class classification (pure numpy functions).

Zero-division policy, stated once for every metric:
- precision of a class that is never predicted is 0.0; such classes are listed in
  ``ClassificationScores.never_predicted`` so that the 0.0 is not mistaken for a real result;
- recall of a class with no true samples is NaN (there is nothing to recall); the class is left out
  of the balanced accuracy and listed in ``ClassificationScores.no_true_samples``;
- F1 is 2·tp / (2·tp + fp + fn): 0.0 for a class that has true samples but is never predicted, or is
  predicted but has no true samples; NaN for a class absent from both, which the macro-F1 leaves out.

Calibration: ``expected_calibration_error`` is the usual top-label ECE (Guo et al. 2017): the samples
are put into equal-width bins over their confidence (the largest probability), bin ``i`` holding
``lower < confidence <= upper`` (a confidence of 0 goes into the first bin), and the ECE is the mean
over bins of |accuracy - mean confidence|, weighted by the bins' sample counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LOG_CLIP = 1e-12


@dataclass(frozen=True)
class ClassScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationScores:
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    per_class: dict[str, ClassScore]
    confusion: tuple[tuple[int, ...], ...]
    n: int
    never_predicted: tuple[str, ...] = ()
    no_true_samples: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain JSON-able values; NaN becomes None."""
        return {
            "accuracy": _json_float(self.accuracy),
            "balanced_accuracy": _json_float(self.balanced_accuracy),
            "macro_f1": _json_float(self.macro_f1),
            "n": self.n,
            "per_class": {
                name: {
                    "precision": _json_float(s.precision),
                    "recall": _json_float(s.recall),
                    "f1": _json_float(s.f1),
                    "support": s.support,
                }
                for name, s in self.per_class.items()
            },
            "confusion": [list(row) for row in self.confusion],
            "class_names": list(self.per_class),
            "never_predicted": list(self.never_predicted),
            "no_true_samples": list(self.no_true_samples),
        }


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: ``lower < confidence <= upper``; NaN mean confidence and accuracy when empty."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(K, K) int64 counts: rows are the true class, columns the predicted class."""
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    truth = as_labels(truth, "truth", int(classes))
    predicted = as_labels(predicted, "predicted", int(classes))
    if truth.shape != predicted.shape:
        raise ValueError(f"predicted {predicted.shape} and truth {truth.shape} differ in shape")
    flat = truth * classes + predicted
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes).astype(np.int64)


def classification_metrics(
    truth: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]
) -> ClassificationScores:
    """Accuracy, balanced accuracy, macro-F1 and per-class scores (see the module docstring for the
    zero-division policy); ``class_names[k]`` names label ``k``."""
    names = [str(name) for name in class_names]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"class_names must be non-empty and unique, got {list(class_names)!r}")
    matrix = confusion_matrix(truth, predicted, len(names))
    n = int(matrix.sum())
    if n == 0:
        raise ValueError("truth is empty: no samples to score")
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    per_class: dict[str, ClassScore] = {}
    for k, name in enumerate(names):
        precision = tp[k] / predicted_count[k] if predicted_count[k] else 0.0
        recall = tp[k] / support[k] if support[k] else math.nan
        denominator = support[k] + predicted_count[k]  # = 2tp + fp + fn
        f1 = 2 * tp[k] / denominator if denominator else math.nan
        per_class[name] = ClassScore(float(precision), float(recall), float(f1), int(support[k]))
    recalls = [s.recall for s in per_class.values() if s.support > 0]
    f1s = [s.f1 for s in per_class.values() if math.isfinite(s.f1)]
    return ClassificationScores(
        accuracy=float(tp.sum() / n),
        balanced_accuracy=float(np.mean(recalls)),
        macro_f1=float(np.mean(f1s)),
        per_class=per_class,
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        n=n,
        never_predicted=tuple(name for k, name in enumerate(names) if predicted_count[k] == 0),
        no_true_samples=tuple(name for k, name in enumerate(names) if support[k] == 0),
    )


def reliability_bins(probabilities: np.ndarray, truth: np.ndarray, bins: int = 15) -> list[ReliabilityBin]:
    """All ``bins`` equal-width confidence bins over [0, 1] (empty ones included, with NaN statistics)."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    probabilities, truth = _probabilities_and_truth(probabilities, truth)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    result = []
    for i in range(int(bins)):
        members = index == i
        count = int(members.sum())
        mean_confidence = float(confidence[members].mean()) if count else math.nan
        accuracy = float(correct[members].mean()) if count else math.nan
        result.append(ReliabilityBin(float(edges[i]), float(edges[i + 1]), count, mean_confidence, accuracy))
    return result


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: sum over bins of count / N * |accuracy - mean confidence| (0 = calibrated)."""
    table = reliability_bins(probabilities, truth, bins)
    n = sum(b.count for b in table)
    return float(sum(b.count / n * abs(b.accuracy - b.mean_confidence) for b in table if b.count))


def negative_log_likelihood(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean of -log p(true class), the probabilities clipped at 1e-12 from below."""
    probabilities, truth = _probabilities_and_truth(probabilities, truth)
    chosen = probabilities[np.arange(truth.size), truth]
    return float(-np.log(np.clip(chosen, LOG_CLIP, 1.0)).mean())


def as_labels(values: np.ndarray, name: str, classes: int) -> np.ndarray:
    """``values`` as a 1-D int64 array of labels in [0, classes); ValueError naming ``name`` otherwise."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold integer labels")
    elif array.dtype.kind not in "iu" and array.size:
        raise ValueError(f"{name} must hold integer labels, got dtype {array.dtype}")
    labels = array.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{name} has labels outside [0, {classes}): min {labels.min()}, max {labels.max()}")
    return labels


def _probabilities_and_truth(probabilities: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0 or probabilities.shape[1] == 0:
        raise ValueError(f"probabilities must have shape (N, K) with N, K >= 1, got {probabilities.shape}")
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < -1e-6 or probabilities.max() > 1 + 1e-6:
        raise ValueError("probabilities must be finite and within [0, 1]")
    if not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probabilities rows must sum to 1 (apply softmax first)")
    truth = as_labels(truth, "truth", probabilities.shape[1])
    if truth.shape[0] != probabilities.shape[0]:
        raise ValueError(f"truth has {truth.shape[0]} labels but probabilities has {probabilities.shape[0]} rows")
    return probabilities, truth


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
