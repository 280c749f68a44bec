"""Multi-class masks and per-class metrics on the real COVID-19 infection masks (issue 13 groundwork):
indexed PNG class maps, pictures of classes through a mapping, the per-class empty-mask rule."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import shared
from lungseg.errors import InputError
from lungseg.io import read_mask
from lungseg.io.label_maps import parse_mask_mapping, read_label_map
from lungseg.metrics import MultiClassAccumulator, per_class_metrics

NAMES = {1: "ground-glass opacity", 2: "consolidation"}


@pytest.fixture(scope="module")
def multiclass():
    return sorted(shared("covid-infection", "train", "masks_multiclass").iterdir())


def test_indexed_png_keeps_its_class_numbers_and_matches_the_binary_masks(multiclass):
    """The palette PNG's indices are the classes (its colours would merge them); every infection pixel
    of the binary mask of the same slice is ground-glass or consolidation in the class map."""
    for path in multiclass[:10]:
        classes = read_label_map(path, 3)
        assert classes.dtype == np.uint8 and set(np.unique(classes)) <= {0, 1, 2}
        infection = read_mask(shared("covid-infection", "train", "masks_infection", path.name))
        assert np.array_equal(classes > 0, infection), path.name
    assert any(2 in np.unique(read_label_map(p, 3)) for p in multiclass[:10])


def test_pictures_of_classes_need_a_mapping(tmp_path, multiclass):
    classes = read_label_map(multiclass[0], 3)
    picture = tmp_path / "picture.png"
    Image.fromarray((classes * 127.5).astype(np.uint8)).save(picture)  # 0 / 127 / 255
    with pytest.raises(InputError, match="picture.png: mask values 127, 255 are not classes 0..2; .*--mask-mapping"):
        read_label_map(picture, 3)
    mapped = read_label_map(picture, 3, parse_mask_mapping("0:0,127:1,255:2", 3))
    assert np.array_equal(mapped, classes)
    with pytest.raises(InputError, match="mask values 255 are not in --mask-mapping"):
        read_label_map(picture, 3, {0: 0, 127: 1})
    with pytest.raises(ValueError, match="--mask-mapping"):
        parse_mask_mapping("0:0,255:7", 3)


def test_per_class_metrics_apply_the_empty_mask_rule_class_by_class(multiclass):
    truth = read_label_map(multiclass[0], 3)
    assert set(np.unique(truth)) == {0, 1, 2}
    no_consolidation = np.where(truth == 2, 1, truth).astype(np.uint8)  # consolidation called ground glass
    scores = per_class_metrics(no_consolidation, truth, (1, 2), with_hd95=False)
    assert scores[2]["dice"] == 0.0 and scores[2]["empty_prediction"] == 1 and scores[2]["empty_gt"] == 0
    expected = 2 * (truth == 1).sum() / ((no_consolidation == 1).sum() + (truth == 1).sum())
    assert scores[1]["dice"] == pytest.approx(expected)
    only_ggo = np.where(truth == 2, 0, truth).astype(np.uint8)
    both_empty = per_class_metrics(only_ggo, only_ggo, (1, 2), with_hd95=False)
    assert both_empty[2]["dice"] == 1.0 and both_empty[2]["empty_gt"] == 1  # absent class, correctly absent
    accumulator = MultiClassAccumulator(NAMES)
    accumulator.add("swapped", scores)
    accumulator.add("perfect-ggo-only", both_empty)
    summary = accumulator.summary()
    consolidation = summary["classes"]["consolidation"]
    assert consolidation["n_empty_gt"] == 1 and consolidation["non_empty_gt"]["dice"]["mean"] == 0.0
    assert summary["mean_foreground"]["dice"] == pytest.approx(
        np.mean([summary["classes"][name]["dice"]["mean"] for name in NAMES.values()])
    )
    with pytest.raises(ValueError, match="lacks metrics for class"):
        accumulator.add("incomplete", {1: scores[1]})
