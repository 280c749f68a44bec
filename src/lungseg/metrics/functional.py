"""Per-sample segmentation metrics on boolean masks (pure functions).

Empty-mask policy, stated once for every metric:
- an empty prediction on an empty ground truth is a perfect result: Dice = IoU = precision = recall
  = 1.0;
- otherwise a zero denominator gives 0.0 (e.g. precision when nothing was predicted but something
  should have been, recall when something was predicted on an empty ground truth);
- HD95 is NaN when either mask is empty (a distance to nothing is undefined);
- summaries count empty-ground-truth samples separately (``n_empty_gt``) because they can move a mean
  a long way either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC_NAMES = ("dice", "iou", "accuracy", "precision", "recall", "specificity", "hd95")


def confusion_counts(prediction: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) pixel counts for two boolean masks of the same shape."""
    prediction, truth = _as_bool_pair(prediction, truth)
    tp = int(np.count_nonzero(prediction & truth))
    fp = int(np.count_nonzero(prediction)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    return tp, fp, fn, prediction.size - tp - fp - fn


def _ratio(numerator: float, denominator: float, both_empty: bool) -> float:
    if denominator == 0:
        return 1.0 if both_empty else 0.0
    return numerator / denominator


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    tp, fp, fn, _ = confusion_counts(prediction, truth)
    return _ratio(2 * tp, 2 * tp + fp + fn, both_empty=True)


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    tp, fp, fn, _ = confusion_counts(prediction, truth)
    return _ratio(tp, tp + fp + fn, both_empty=True)


def hd95(prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None) -> float:
    """95th-percentile symmetric Hausdorff distance between the mask surfaces.

    Computed as max(95th percentile of prediction->truth surface distances, 95th percentile of
    truth->prediction), as MONAI does. In pixels, or in mm when ``spacing`` (per axis, array order)
    is given. NaN when either mask is empty.
    """
    from scipy import ndimage

    prediction, truth = _as_bool_pair(prediction, truth)
    if not prediction.any() or not truth.any():
        return float("nan")
    sampling = None if spacing is None else tuple(float(s) for s in spacing)
    surfaces = [mask ^ ndimage.binary_erosion(mask, border_value=0) for mask in (prediction, truth)]
    to_truth = ndimage.distance_transform_edt(~surfaces[1], sampling=sampling)[surfaces[0]]
    to_prediction = ndimage.distance_transform_edt(~surfaces[0], sampling=sampling)[surfaces[1]]
    return float(max(np.percentile(to_truth, 95), np.percentile(to_prediction, 95)))


def segmentation_metrics(
    prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None, with_hd95: bool = True
) -> dict[str, float]:
    """All metrics of ``METRIC_NAMES`` for one sample, plus ``empty_gt`` and ``empty_prediction`` flags."""
    tp, fp, fn, tn = confusion_counts(prediction, truth)
    empty_truth, empty_prediction = tp + fn == 0, tp + fp == 0
    both_empty = empty_truth and empty_prediction
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty=True),
        "iou": _ratio(tp, tp + fp + fn, both_empty=True),
        "accuracy": (tp + tn) / (tp + fp + fn + tn),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
        "specificity": _ratio(tn, tn + fp, both_empty=fp == 0),
        "hd95": hd95(prediction, truth, spacing) if with_hd95 else float("nan"),
        "empty_gt": int(empty_truth),
        "empty_prediction": int(empty_prediction),
    }


def _as_bool_pair(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, truth = np.asarray(prediction, dtype=bool), np.asarray(truth, dtype=bool)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    return prediction, truth
