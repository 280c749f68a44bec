"""The lesion pipeline's parts on real shared data: label table and palette PNG, lesion clean-up outside
the lungs, burden per lung against a hand count, tumour diameters, multi-segment DICOM-SEG read back
with highdicom, the export window for HU input, duplicate-grouped splits and init_from."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared
from lungseg.inference.lesions.burden import feret_diameter, lesion_burden, severity, tumour_components
from lungseg.inference.lesions.model import LesionOptions, clean_lesions, merge_lesions
from lungseg.io import read_image
from lungseg.io.masks import read_mask_array
from lungseg.labels import (
    CONSOLIDATION,
    GROUND_GLASS,
    INFECTION,
    LEFT_LUNG,
    RIGHT_LUNG,
    SPLIT_LUNGS,
    TUMOUR,
    lesion_classes,
)

KMADER_SLICE = "ID_0000_Z_0142.tif"


def real_lungs() -> tuple[np.ndarray, np.ndarray]:
    """A kmader slice (HU) and its lung mask as right (1, image left) / left (2) labels, (1, H, W)."""
    from scipy import ndimage

    hu = read_image(shared("ct-lung-kmader", "images", KMADER_SLICE)).astype(np.float32)
    mask = read_mask_array(shared("ct-lung-kmader", "masks", KMADER_SLICE)) > 0
    parts, count = ndimage.label(mask)
    sizes = np.bincount(parts.ravel())[1:]
    two = np.argsort(sizes)[-2:] + 1
    centres = [np.nonzero(parts == index)[1].mean() for index in two]
    labels = np.zeros(mask.shape, np.uint8)
    right, left = (two[0], two[1]) if centres[0] < centres[1] else (two[1], two[0])
    labels[parts == right], labels[parts == left] = RIGHT_LUNG.value, LEFT_LUNG.value
    return hu[None], labels[None]


def test_lesion_classes_follow_the_label_table():
    assert lesion_classes(["infection"]) == (INFECTION,)
    assert lesion_classes(["ground-glass opacity", "consolidation"]) == (GROUND_GLASS, CONSOLIDATION)
    assert lesion_classes(["tumour"]) == (TUMOUR,)
    odd = lesion_classes(["nodule", "cavity"], taken=(TUMOUR,))
    assert [c.value for c in odd] == [7, 9] and odd[0].name == "nodule"  # 8 is the airways (issue 24)


def test_palette_png_keeps_label_values_and_colours(tmp_path):
    from PIL import Image

    from lungseg.io.images2d import write_label_png
    from lungseg.io.label_maps import read_label_map

    _, lungs = real_lungs()
    labels = lungs[0].copy()
    labels[200:220, 100:140] = GROUND_GLASS.value
    path = tmp_path / "labels.png"
    write_label_png(path, labels, {c.value: c.colour for c in (*SPLIT_LUNGS, GROUND_GLASS)})
    back = read_label_map(path, classes=GROUND_GLASS.value + 1)
    assert np.array_equal(back, labels)
    palette = Image.open(path).getpalette()
    assert tuple(palette[3 * GROUND_GLASS.value : 3 * GROUND_GLASS.value + 3]) == GROUND_GLASS.colour


def test_lesions_outside_the_lungs_and_too_small_are_removed():
    _, lungs = real_lungs()
    found = np.zeros_like(lungs)
    rows, cols = np.nonzero(lungs[0] == RIGHT_LUNG.value)
    cy, cx = int(rows.mean()), int(cols.mean())
    found[0, cy - 10 : cy + 10, cx - 10 : cx + 10] = INFECTION.value  # inside the right lung: kept
    found[0, 5:40, 5:40] = INFECTION.value  # image corner, outside the body
    found[0, cy + 30 : cy + 32, cx : cx + 2] = INFECTION.value  # 4 pixels inside: below min size
    options = LesionOptions(min_pixels=10)
    cleaned = clean_lesions(found, lungs > 0, None, options)
    assert cleaned[0, cy, cx] == INFECTION.value and (cleaned == INFECTION.value).sum() == 400
    assert not cleaned[0, 5:40, 5:40].any() and not cleaned[0, cy + 30 : cy + 32, cx : cx + 2].any()
    # with spacing the minimum is in mm^2: 0.7 mm pixels, 5 mm^2 = 10.2 pixels -> the 4-pixel spot goes
    assert (clean_lesions(found, lungs > 0, (0.7, 0.7), LesionOptions()) == INFECTION.value).sum() == 400


def test_lesion_burden_matches_a_hand_count_on_a_real_slice():
    """Lesion = the real infection mask of a COVID slice, laid on the kmader lungs; the burden per lung
    must equal the pixel counts done here by hand."""
    import cv2

    _, lungs = real_lungs()
    infection = read_mask_array(shared("covid-infection", "train", "masks_infection", "1.png")) > 0
    lesion = cv2.resize(infection.astype(np.uint8), lungs.shape[:0:-1], interpolation=cv2.INTER_NEAREST) > 0
    lesion &= lungs[0] > 0
    assert lesion.sum() > 500
    merged = merge_lesions(lungs, [np.where(lesion, INFECTION.value, 0).astype(np.uint8)[None]])
    burden = lesion_burden(merged, SPLIT_LUNGS, (INFECTION,), (0.6, 0.6), is_volume=False)
    for lung in SPLIT_LUNGS:
        side = lungs[0] == lung.value
        by_hand = int((lesion & side).sum())
        size, percent = dict((k, v) for k, v in burden.classes[0][2].items())[lung.key]
        assert size.voxels == by_hand
        assert size.area_mm2 == pytest.approx(by_hand * 0.36, abs=0.1)
        assert percent == pytest.approx(100 * by_hand / side.sum(), abs=0.01)
        assert burden.lungs[lung.key][1] == severity(percent)
    report = burden.to_dict()
    assert set(report["per_lung"]) == {"right_lung", "left_lung"} and report["components"] == {}


def test_lesions_never_paint_airway_voxels_on_a_real_slice():
    """A lesion map that covers the airways (label 8, trachea and bronchi) leaves them airway: the airway
    is air, not infection, and its volume stays apart from the lungs and the lesions."""
    from lungseg.labels import AIRWAY

    _, lungs = real_lungs()
    lungs = lungs.copy()
    rows, cols = np.nonzero(lungs[0] == 0)
    lungs[0, rows[:400], cols[:400]] = AIRWAY.value  # stand-in airway voxels on the real label map
    everywhere = np.full(lungs.shape, INFECTION.value, np.uint8)
    merged = merge_lesions(lungs, [everywhere])
    assert (merged[lungs == AIRWAY.value] == AIRWAY.value).all()
    assert (merged[(lungs != AIRWAY.value)] == INFECTION.value).all()


def test_severity_bands():
    assert [severity(p) for p in (0, 0.01, 25, 25.1, 50, 51, 75, 75.5, 100)] == [0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_tumour_components_and_diameters():
    mask = np.zeros((6, 80, 80), bool)
    yy, xx = np.mgrid[:80, :80]
    for z in (1, 2, 3):
        mask[z] |= (yy - 30) ** 2 + (xx - 30) ** 2 <= 10**2  # ball-ish, 21 pixels across
    mask[4, 60:63, 60:70] = True  # a second, 10 x 3 pixel component
    found = tumour_components(mask, (0.5, 0.5, 2.0), is_volume=True)
    assert len(found) == 2 and found[0].size.voxels > found[1].size.voxels
    assert found[0].longest_diameter == pytest.approx(21 * 0.5 * 1.0, abs=0.8)  # mm
    assert found[1].longest_diameter == pytest.approx(np.hypot(10, 3) * 0.5, abs=0.01)
    assert found[0].slices == (1, 3) and found[0].size.volume_ml == pytest.approx(3 * 317 * 0.5 / 1000, abs=0.01)
    assert feret_diameter(np.ones((1, 1), bool), (1.0, 1.0)) == pytest.approx(np.sqrt(2))


@pytest.mark.slow
def test_dicom_seg_with_lung_and_lesion_segments_reads_back(tmp_path):
    import highdicom as hd
    import pydicom

    from lungseg.inference.outputs.dicomseg import write_dicom_seg

    files = sorted(shared("ct-volume-popi", "dicom").iterdir())[30:34]
    shape = (len(files), 512, 512)
    labels = np.zeros(shape, np.uint8)
    labels[:, 150:350, 100:240] = RIGHT_LUNG.value
    labels[:, 150:350, 280:420] = LEFT_LUNG.value
    labels[1:3, 200:230, 120:150] = GROUND_GLASS.value
    labels[2, 300:320, 300:330] = TUMOUR.value
    classes = (*SPLIT_LUNGS, GROUND_GLASS, CONSOLIDATION, TUMOUR)  # consolidation absent: no segment
    path = write_dicom_seg(tmp_path / "seg.dcm", labels, files, "test", classes)
    seg = hd.seg.segread(path)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Right lung", "Left lung", "Lesion", "Neoplasm"]
    categories = [s.SegmentedPropertyCategoryCodeSequence[0].CodeValue for s in seg.SegmentSequence]
    assert categories == ["91723000", "91723000", "49755003", "49755003"]
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files]
    back = np.asarray(
        seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, combine_segments=True, skip_overlap_checks=True
        )
    )
    for number, label in enumerate((RIGHT_LUNG, LEFT_LUNG, GROUND_GLASS, TUMOUR), start=1):
        assert (back == number).sum() == (labels == label.value).sum()


def test_export_window_maps_hu_like_the_exports():
    """An 8-bit plan with an export window takes HU: the model input equals the 8-bit rendering of the
    same slice through that window (tools/render_8bit.py), level for level."""
    import sys

    from conftest import REPO
    from lungseg.preprocessing import PreprocessPlan

    sys.path.insert(0, str(REPO / "tools"))
    from render_8bit import window_8bit

    hu, _ = real_lungs()
    plan = PreprocessPlan("8bit", -600.0, 1500.0, 256, export_center=-380.0, export_width=1170.0)
    exported = window_8bit(hu[0], -380.0, 1170.0)
    assert np.array_equal(plan.normalize(hu[0]), exported.astype(np.float32) / np.float32(255.0))
    assert np.array_equal(plan.normalize(exported), exported.astype(np.float32) / np.float32(255.0))
    with pytest.raises(Exception, match="8-bit pictures"):
        PreprocessPlan("8bit", -600.0, 1500.0, 256).prepare(hu[0])  # no export window: HU refused
    old = PreprocessPlan.from_stored(
        {"intensity": "hu", "window_center": -600.0, "window_width": 1500.0, "image_size": 256}, "old.pt"
    )  # checkpoints before the new fields
    assert old.field_of_view == "full" and old.export_center is None


def test_near_duplicates_share_a_fold():
    """covid-infection has no patient IDs; 10.jpg and 43.jpg are neighbouring slices (phash 2 bits
    apart): with group_duplicates they land in the same fold of every split."""
    from lungseg.data import find_pairs, make_split
    from lungseg.data.audit import duplicate_links

    root = shared("covid-infection", "train")
    pairs = find_pairs(root / "images", root / "masks_infection")
    links = duplicate_links(pairs)
    assert ("10", "43") in links or ("43", "10") in links
    for fold in range(5):
        split = make_split([p.name for p in pairs], f"kfold:5:{fold}", 0, None, links)
        assert ("10" in split.val) == ("43" in split.val)


def test_init_from_copies_every_fitting_tensor():
    from lungseg.models import build_model
    from lungseg.models.checkpoint import initialise_from

    model = build_model("unet", in_channels=1, out_channels=3)
    copied, total = initialise_from(model, "ct-lung")
    assert copied == total - 2  # all but the 1 -> 3 channel output convolution (weight and bias)


def test_ct_lung_takes_an_8bit_export_of_a_real_slice(tmp_path):
    """A kmader slice saved as a lung-window PNG: `--model ct-lung` is no longer refused; its 8-bit
    variant segments it, and the lungs match the slice's own mask."""
    import json
    import sys

    from PIL import Image

    from conftest import REPO, run_cli
    from lungseg.metrics import dice

    sys.path.insert(0, str(REPO / "tools"))
    from render_8bit import window_8bit

    hu, _ = real_lungs()
    export = tmp_path / "export.png"
    Image.fromarray(window_8bit(hu[0], -600.0, 1500.0)).save(export)
    result = run_cli("predict", export, tmp_path / "out.png", "--model", "ct-lung", "--report")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out_report.json").read_text())
    assert report["models"] == ["ct-lung-8bit"] and "mean_hu" not in report["measurements"]["right_lung"]
    truth = read_mask_array(shared("ct-lung-kmader", "masks", KMADER_SLICE)) > 0
    predicted = np.asarray(Image.open(tmp_path / "out.png")) > 0
    assert dice(predicted, truth) > 0.95


def test_covid_infection_on_a_real_covid_slice_through_the_cli(tmp_path):
    """An 8-bit COVID slice (training data of the shipped model, so this checks the plumbing, not the
    accuracy): one indexed PNG with lungs and infection, the label table and burden in the report."""
    import json

    from PIL import Image

    from conftest import run_cli

    source = shared("covid-infection", "train", "images", "2.jpg")
    result = run_cli("predict", source, tmp_path / "out.png", "--model", "covid-infection", "--report", "--overlay")
    assert result.returncode == 0, result.stderr
    assert "% affected" in result.stdout + result.stderr
    report = json.loads((tmp_path / "out_report.json").read_text())
    assert report["labels"] == {"0": "background", "1": "right lung", "2": "left lung", "3": "infection"}
    labels = Image.open(tmp_path / "out.png")
    assert labels.mode == "P" and set(np.unique(np.asarray(labels))) <= {0, 1, 2, 3}
    infection = int((np.asarray(labels) == 3).sum())
    assert report["lesions"]["classes"]["infection"]["voxels"] == infection > 0
    overlay = Image.open(tmp_path / "out_overlay.png")
    assert overlay.size[1] == labels.size[1] + 20  # the legend strip
