import math

import numpy as np
import pytest

from lungseg.io import read_mask
from lungseg.metrics import MetricAccumulator, confusion_counts, hd95, segmentation_metrics


def _square(shape, top, left, size):
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_counts_and_ratios_by_hand():
    truth = _square((10, 10), 0, 0, 4)  # 16 px
    prediction = _square((10, 10), 2, 0, 4)  # 16 px, overlap 8
    assert confusion_counts(prediction, truth) == (8, 8, 8, 76)
    m = segmentation_metrics(prediction, truth)
    assert m["dice"] == pytest.approx(0.5)
    assert m["iou"] == pytest.approx(8 / 24)
    assert m["accuracy"] == pytest.approx(84 / 100)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["specificity"] == pytest.approx(76 / 84)


def test_empty_policy():
    empty = np.zeros((8, 8), bool)
    full = _square((8, 8), 2, 2, 3)
    both = segmentation_metrics(empty, empty)
    assert both["dice"] == both["iou"] == both["precision"] == both["recall"] == 1.0
    assert math.isnan(both["hd95"]) and both["empty_gt"] == 1
    missed = segmentation_metrics(empty, full)
    assert missed["dice"] == 0.0 and missed["precision"] == 0.0 and missed["recall"] == 0.0
    false_alarm = segmentation_metrics(full, empty)
    assert false_alarm["dice"] == 0.0 and false_alarm["empty_gt"] == 1 and false_alarm["empty_prediction"] == 0


def test_hd95_shift_and_spacing():
    truth = _square((40, 40), 10, 10, 10)
    shifted = _square((40, 40), 10, 13, 10)
    assert hd95(truth, truth) == 0.0
    assert hd95(shifted, truth) == pytest.approx(3.0)
    assert hd95(shifted, truth, spacing=(1.0, 0.5)) == pytest.approx(1.5)


def test_real_mask_against_eroded_copy(kmader):
    from scipy import ndimage

    truth = read_mask(kmader / "masks" / "ID_0000_Z_0142.tif")
    eroded = ndimage.binary_erosion(truth, iterations=2)
    m = segmentation_metrics(eroded, truth)
    assert 0.9 < m["dice"] < 1.0 and m["precision"] == 1.0 and m["recall"] < 1.0
    assert m["hd95"] == pytest.approx(2.0, abs=0.5)


def test_accumulator_reports_empty_cases_apart():
    accumulator = MetricAccumulator()
    truth = _square((10, 10), 0, 0, 4)
    empty = np.zeros((10, 10), bool)
    accumulator.add("a", segmentation_metrics(truth, truth))
    accumulator.add("b", segmentation_metrics(np.zeros_like(truth), truth))
    accumulator.add("c", segmentation_metrics(empty, empty))
    accumulator.add("d", segmentation_metrics(truth, empty))
    summary = accumulator.summary()
    assert summary["n"] == 4 and summary["n_empty_gt"] == 2 and summary["n_false_positive_on_empty_gt"] == 1
    assert summary["dice"]["mean"] == pytest.approx(0.5)
    assert summary["non_empty_gt"]["dice"]["mean"] == pytest.approx(0.5)
    assert summary["empty_gt"]["dice"]["mean"] == pytest.approx(0.5)
    assert summary["hd95"]["mean"] == 0.0  # only sample a has both masks non-empty
    assert set(summary["dice"]) == {"mean", "median", "std"}
