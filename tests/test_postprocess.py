"""Post-processing, the right/left split and measurements on small synthetic volumes (edge cases)."""

from __future__ import annotations

import numpy as np

from conftest import shared
from lungseg.inference.core.measure import RegionMeasurement, measure
from lungseg.inference.core.postprocess import PostprocessOptions, keep_largest_components, postprocess, split_lungs
from lungseg.io.masks import read_mask_array
from lungseg.labels import BOTH_LUNGS, LEFT_LUNG, LUNG, RIGHT_LUNG, SPLIT_LUNGS
from lungseg.metrics.functional import dice


def _two_lungs(bridge: bool = False) -> np.ndarray:
    mask = np.zeros((12, 64, 64), bool)
    mask[2:10, 10:50, 6:26] = True  # right lung: low X (patient right in LPS)
    mask[2:10, 12:48, 38:58] = True  # left lung
    if bridge:
        mask[4:6, 28:31, 26:38] = True  # a thin joint (trachea / anterior junction)
    return mask


def test_keep_largest_drops_small_islands_only():
    mask = _two_lungs()
    mask[0, 0:2, 0:2] = True
    kept = keep_largest_components(mask)
    assert not kept[0, 0, 0] and kept.sum() == _two_lungs().sum()


def test_fill_holes_3d_fills_enclosed_cavities_but_not_open_tunnels():
    mask = _two_lungs()
    mask[5, 20, 15] = False  # enclosed: filled
    mask[2:10, 30, 45] = False  # a vessel running through the whole lung: stays open
    cleaned = postprocess(mask, PostprocessOptions(split_lungs=False))
    assert cleaned[5, 20, 15] and not cleaned[5, 30, 45]
    per_slice = postprocess(mask, PostprocessOptions(fill_holes_2d=True))
    assert per_slice[5, 30, 45]


def test_split_separates_joined_lungs_by_side():
    labels, separated = split_lungs(_two_lungs(bridge=True))
    assert separated
    assert (labels[:, 10:50, 6:26][_two_lungs()[:, 10:50, 6:26]] == 1).all()
    assert (labels[:, 12:48, 38:58][_two_lungs()[:, 12:48, 38:58]] == 2).all()


def test_split_falls_back_to_the_midline_for_one_blob():
    mask = np.zeros((4, 32, 32), bool)
    mask[:, 4:28, 4:28] = True
    labels, separated = split_lungs(mask, midline_x=16)
    assert not separated and (labels[:, :, 4:16][mask[:, :, 4:16]] == 1).all()
    assert (labels[:, :, 16:28][mask[:, :, 16:28]] == 2).all()


def test_measurements_use_spacing_and_hu():
    labels = split_lungs(_two_lungs())[0]
    hu = np.full(labels.shape, -800, np.int16)
    hu[labels == 2] = -960
    hu[2][labels[2] == 1] = -400  # one of the right lung's 8 slices in the high-attenuation range
    result = measure(labels, SPLIT_LUNGS, hu, (0.5, 0.5, 2.0), is_volume=True)
    right_voxels = 8 * 40 * 20
    assert result.of(RIGHT_LUNG).voxels == right_voxels
    assert result.of(RIGHT_LUNG).volume_ml == round(right_voxels * 0.5 / 1000, 1)
    assert result.of(RIGHT_LUNG).mean_hu == -750 and result.of(LEFT_LUNG).percent_below_950_hu == 100
    assert result.of(RIGHT_LUNG).percent_600_to_250_hu == 12.5 and result.of(LEFT_LUNG).percent_600_to_250_hu == 0
    assert result.total.voxels == (labels > 0).sum()
    stored = result.to_dict()  # the report's keys, and back
    assert list(stored) == ["right_lung", "left_lung", "total"] and stored["left_lung"]["percent_below_-950_hu"] == 100
    assert RegionMeasurement.from_dict(stored["right_lung"]) == result.of(RIGHT_LUNG)
    areas = measure(
        (labels[:1] > 0).astype(np.uint8), BOTH_LUNGS, None, (0.5, 0.5), is_volume=False
    )  # a slice: areas, no HU
    assert areas.of(LUNG).to_dict() == {
        "voxels": int((labels[0] > 0).sum()),
        "area_cm2": round((labels[0] > 0).sum() * 0.25 / 100, 2),
    }


def test_air_outside_the_body_is_dropped_on_a_real_slice(kmader):
    """A real kmader slice: its lungs (from the real mask) stay, a blob of outside air that the model
    might call lung (between the body and the field-of-view edge) is removed."""
    import tifffile

    from lungseg.io import read_mask

    hu = tifffile.imread(kmader / "images" / "ID_0000_Z_0142.tif")[None]
    lungs = read_mask(kmader / "masks" / "ID_0000_Z_0142.tif")[None]
    outside = np.zeros_like(lungs)
    outside[0, 2:50, 216:296] = True  # top centre: air above the patient's chest (over 5 % of a lung)
    assert (hu[outside] < -500).all() and not (lungs & outside).any()
    assert np.array_equal(keep_largest_components(lungs | outside, max_components=3, hu=hu), lungs)
    assert np.array_equal(keep_largest_components(lungs | outside, max_components=3), lungs | outside)
    assert np.array_equal(keep_largest_components(outside, hu=hu), outside)  # the largest always stays


def test_a_lung_at_the_edge_of_the_lungs_box_is_kept_on_a_real_slice():
    """kmader ID_0244: the left lung lies at the edge of the lungs' bounding box; the body outline was taken
    from that box only, so the lung looked open to the outside and was dropped (one lung left, verdict
    check). The outline now comes from whole slices: both lungs stay."""
    from lungseg.inference import Segmenter

    name = "ID_0244_Z_0184.tif"
    result = Segmenter.from_pretrained("ct-lung").segment(shared("ct-lung-kmader", "images", name))
    labels = np.asarray(result.labels)
    truth = read_mask_array(shared("ct-lung-kmader", "masks", name)) > 0
    assert (labels == 2).sum() > 0.5 * (labels == 1).sum()
    assert dice(labels > 0, truth) > 0.97
