"""Segmentation metrics: pure per-sample functions plus a small accumulator (see ``functional`` for
the empty-mask policy)."""

from lungseg.metrics.accumulator import MetricAccumulator, summarize
from lungseg.metrics.calibration import fit_temperature, log_softmax, softmax
from lungseg.metrics.classification import (
    ClassificationScores,
    ClassScore,
    ReliabilityBin,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)
from lungseg.metrics.functional import (
    METRIC_NAMES,
    confusion_counts,
    dice,
    hd95,
    iou,
    segmentation_metrics,
)
from lungseg.metrics.multiclass import MultiClassAccumulator, per_class_metrics

__all__ = [
    "METRIC_NAMES",
    "MetricAccumulator",
    "MultiClassAccumulator",
    "confusion_counts",
    "dice",
    "hd95",
    "iou",
    "segmentation_metrics",
    "per_class_metrics",
    "summarize",
    "ClassScore",
    "ClassificationScores",
    "ReliabilityBin",
    "classification_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "negative_log_likelihood",
    "reliability_bins",
    "fit_temperature",
    "log_softmax",
    "softmax",
]
