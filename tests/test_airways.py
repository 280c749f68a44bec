"""Airways apart (issue 24): the trachea and main bronchi get their own label (8) on the real POPI chest CT
and on a kmader slice at the main bronchi, out of the lung volumes; inputs without a trachea get none."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared
from lungseg.inference import Segmenter
from lungseg.inference.ct.airways import add_airways
from lungseg.labels import AIRWAY, LEFT_LUNG, RIGHT_LUNG, SPLIT_LUNGS, TABLE, lesion_classes


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter.from_pretrained("ct-lung", tta=False)


@pytest.fixture(scope="module")
def popi(segmenter):
    return segmenter.segment(shared("ct-volume-popi", "dicom"))


def test_the_label_table_holds_the_airways():
    assert AIRWAY in TABLE and AIRWAY.value == 8 and AIRWAY.snomed == ("110726009", "Trachea and bronchus")
    assert len({label.value for label in TABLE}) == len(TABLE)
    assert lesion_classes(["emphysema"])[0].value == 9  # an unknown lesion class takes the first free value


def test_popi_gets_airways_out_of_its_lungs(popi):
    labels = popi.canonical_labels
    assert AIRWAY in popi.classes
    airway = popi.measurements.of(AIRWAY)
    assert airway is not None and airway.volume_ml is not None
    assert 15.0 <= airway.volume_ml <= 80.0  # measured 38.0 mL with TTA (benchmarks/airways.py)
    top = labels[-3:]  # canonical: the last slices are the top of the scan
    assert (top == AIRWAY.value).any() and not np.isin(top, [RIGHT_LUNG.value, LEFT_LUNG.value]).any()
    assert popi.measurements.total.voxels == int(np.isin(labels, [RIGHT_LUNG.value, LEFT_LUNG.value]).sum())


def test_popi_lungs_drop_by_the_airway_voxels_only(popi, segmenter, monkeypatch):
    """The same run without the airway step: every airway voxel was right or left lung, and the lungs lost
    those voxels and no others."""
    import lungseg.inference.ct.segmenter as module

    monkeypatch.setattr(module, "add_airways", lambda hu, labels, *rest: labels)
    before = segmenter.segment(shared("ct-volume-popi", "dicom"))
    old, new = before.canonical_labels, popi.canonical_labels
    airway = new == AIRWAY.value
    assert AIRWAY not in before.classes and np.isin(old[airway], [RIGHT_LUNG.value, LEFT_LUNG.value]).all()
    np.testing.assert_array_equal(old[~airway], new[~airway])
    lungs_before = sum(before.measurements.of(label).voxels for label in SPLIT_LUNGS)
    lungs_after = sum(popi.measurements.of(label).voxels for label in SPLIT_LUNGS)
    assert lungs_after + popi.measurements.of(AIRWAY).voxels == lungs_before
    assert before.measurements.total.voxels == popi.measurements.total.voxels + int(airway.sum())
    volumes = [before.measurements.of(label).volume_ml - popi.measurements.of(label).volume_ml for label in SPLIT_LUNGS]
    assert sum(volumes) == pytest.approx(popi.measurements.of(AIRWAY).volume_ml, abs=0.25)  # 0.1 mL roundings


def test_a_kmader_slice_at_the_main_bronchi_gets_airways(segmenter):
    result = segmenter.segment(shared("ct-lung-kmader", "images", "ID_0145_Z_0059.tif"))
    assert AIRWAY in result.classes and (result.labels == AIRWAY.value).sum() > 50  # measured 141 pixels


def test_the_right_main_bronchus_at_the_carina_level_of_a_kmader_slice_is_airway(segmenter):
    """ID_0244 (the carina level): the right main bronchus at the hilum, 30.4 mm from the midline, drawn as
    right lung by the model, becomes airway (measured 97 pixels); the left lung is there too."""
    result = segmenter.segment(shared("ct-lung-kmader", "images", "ID_0244_Z_0184.tif"))
    labels = np.asarray(result.labels)
    assert AIRWAY in result.classes and (labels == AIRWAY.value).sum() > 40
    airway_columns = np.nonzero(labels == AIRWAY.value)[1]
    assert airway_columns.mean() < labels.shape[1] / 2  # the patient's right: the image's left
    assert (labels == LEFT_LUNG.value).sum() > 10000


def test_a_slice_without_trachea_gets_none(segmenter):
    result = segmenter.segment(shared("ct-lung-kmader", "images", "ID_0153_Z_0065.tif"))  # heart and liver level
    assert AIRWAY not in result.classes and not (result.labels == AIRWAY.value).any()


def test_no_trachea_no_error():
    hu = np.full((4, 64, 64), -1000.0, dtype=np.float32)
    hu[:, 8:56, 8:56] = 40.0
    labels = np.zeros(hu.shape, dtype=np.uint8)
    assert add_airways(hu, labels, (1.0, 1.0, 4.0), True, None) is labels  # no lungs
    labels[:, 20:40, 12:28] = RIGHT_LUNG.value
    hu[labels > 0] = -850.0
    assert not (add_airways(hu, labels, (1.0, 1.0, 4.0), True, 32.0) == AIRWAY.value).any()
    assert add_airways(hu, labels, (1.0, 1.0, 4.0), False, 32.0) is labels  # 8-bit: skipped
