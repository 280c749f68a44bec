"""Lung nodules: measures (diameters, volume, HU type, Lung-RADS), the patient-grouped split of the LIDC
crops, the seeded segmentation of real LIDC nodules with the shipped lung-nodule model, the CLI and the
compare command on two copies of one scan with a known scaling."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest

from conftest import REPO, run_cli, shared
from lungseg.inference.nodules import Seed, growth, lung_rads, measure_nodule

WINDOW = (-1000.0, 1000.0)  # recipes/lung-nodule.yaml's export window (estimated for the LIDC crops)


def disc_volume(diameter_mm: float, slices: int = 5, spacing=(1.0, 0.7, 0.7), inside=30.0, size=96):
    yy, xx = np.mgrid[:size, :size]
    disc = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5) <= diameter_mm / spacing[1] / 2
    mask = np.stack([disc] * slices)
    return mask, np.where(mask, inside, -850.0).astype(np.float32)


@pytest.mark.parametrize(
    ("kind", "size", "solid", "category"),
    [
        ("solid", 5.9, None, "2"),
        ("solid", 6.0, None, "3"),
        ("solid", 7.9, None, "3"),
        ("solid", 8.0, None, "4A"),
        ("solid", 14.9, None, "4A"),
        ("solid", 15.0, None, "4B"),
        ("ground-glass", 29.9, None, "2"),
        ("ground-glass", 30.0, None, "3"),
        ("part-solid", 5.9, 3.0, "2"),
        ("part-solid", 12.0, 5.9, "3"),
        ("part-solid", 12.0, 6.0, "4A"),
        ("part-solid", 12.0, 8.0, "4B"),
    ],
)
def test_lung_rads_v2022_size_categories(kind, size, solid, category):
    assert lung_rads(kind, size, solid).category == category


def test_lung_rads_refuses_a_bad_type_and_size():
    with pytest.raises(ValueError, match="kind"):
        lung_rads("calcified", 5.0)
    with pytest.raises(ValueError, match="size_mm"):
        lung_rads("solid", -1.0)


@pytest.mark.parametrize("diameter", [4.0, 10.0, 20.0])
def test_diameters_and_volume_of_a_disc_stack(diameter):
    mask, hu = disc_volume(diameter)
    measures = measure_nodule(mask, (1.0, 0.7, 0.7), hu)
    assert abs(measures.diameters.long_mm - diameter) <= 0.71  # one pixel
    assert abs(measures.diameters.short_mm - diameter) <= 0.71
    assert measures.volume_mm3 == pytest.approx(math.pi * (diameter / 2) ** 2 * 5, rel=0.1)
    assert measures.slices == 5 and measures.type == "solid" and measures.mean_hu == pytest.approx(30.0)


def test_an_ellipse_has_a_long_and_a_perpendicular_short_axis():
    yy, xx = np.mgrid[:80, :80]
    mask = (((yy - 40) / 10) ** 2 + ((xx - 40) / 20) ** 2 <= 1)[None]
    measures = measure_nodule(mask, (1.0, 0.5, 0.5))
    assert measures.diameters.long_mm == pytest.approx(20.5, abs=0.6)
    assert measures.diameters.short_mm == pytest.approx(10.5, abs=0.6)
    assert measures.type is None and measures.lung_rads is None  # no HU given


def test_hu_types_solid_part_solid_and_ground_glass():
    mask, _ = disc_volume(12.0)
    ground_glass = np.where(mask, -600.0, -850.0)
    part_solid = ground_glass.copy()
    core, _ = disc_volume(7.0)
    part_solid[core] = 20.0
    assert measure_nodule(mask, (1.0, 0.7, 0.7), ground_glass).type == "ground-glass"
    found = measure_nodule(mask, (1.0, 0.7, 0.7), part_solid)
    assert found.type == "part-solid"
    assert found.solid.mean_mm == pytest.approx(7.0, abs=0.8)
    assert found.lung_rads.category == "4A"  # part-solid >= 6 mm, solid component 6 to < 8 mm


def test_growth_and_volume_doubling_time():
    change = growth(100.0, 200.0, 90.0, "given")
    assert change.change_percent == pytest.approx(100.0) and change.vdt_days == pytest.approx(90.0)
    assert growth(100.0, 110.0, 90.0, "given").trend.startswith("stable")
    assert growth(200.0, 100.0, 90.0, "given").vdt_days is None
    assert growth(100.0, 200.0, None, "unknown").vdt_days is None
    with pytest.raises(ValueError, match="positive"):
        growth(0.0, 1.0, 1.0, "given")


def lidc_rows() -> list[dict]:
    with open(shared("ct-nodule-lidc", "index.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def test_lidc_crops_split_by_patient_never_by_slice():
    from lungseg.config.files import load_config
    from lungseg.data.splits import group_of, make_split

    recipe = load_config(REPO / "recipes" / "lung-nodule.yaml")
    rows = lidc_rows()
    assert len(rows) == 2023 and len({r["patient"] for r in rows}) == 161
    names = [r["id"] for r in rows]
    for fold in range(5):
        split = make_split(names, f"kfold:5:{fold}", group_pattern=recipe.data.group_pattern)
        train = {group_of(n, recipe.data.group_pattern) for n in split.train}
        val = {group_of(n, recipe.data.group_pattern) for n in split.val}
        assert train and val and not train & val
    assert group_of("LIDC-IDRI-0042_nodule-3_slice-7", recipe.data.group_pattern) == "LIDC-IDRI-0042"


def lidc_nodule(nodule: str) -> tuple[np.ndarray, np.ndarray]:
    """A nodule's crops stacked in slice order as HU (through the recipe's window) and its consensus."""
    from lungseg.io import read_image, read_mask

    data = shared("ct-nodule-lidc")
    paths = sorted((data / "images").glob(f"{nodule}_slice-*.png"), key=lambda p: int(re.search(r"(\d+)$", p.stem)[1]))
    gray = np.stack([read_image(p) for p in paths]).astype(np.float32)
    truth = np.stack([read_mask(data / "masks" / p.name) > 0 for p in paths])
    return (gray / 255.0 * (WINDOW[1] - WINDOW[0]) + WINDOW[0]).astype(np.float32), truth


def nifti(path, hu: np.ndarray, spacing=(0.7, 0.7, 1.25)):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def nodule_segmenter():
    from lungseg.inference.nodules import NoduleSegmenter

    return NoduleSegmenter.load("lung-nodule", backend="onnx")


# nodules of patients in CV fold 0, which the shipped lung-nodule (fold 0's model) never saw
HELD_OUT = ("LIDC-IDRI-0012_nodule-3", "LIDC-IDRI-0031_nodule-4")
# a training patient of the shipped model: the tests below check the plumbing (CLI, pipeline, compare), not accuracy
PLUMBING = "LIDC-IDRI-0001_nodule-0"


@pytest.mark.parametrize("nodule", HELD_OUT)
def test_seeded_segmentation_of_a_real_nodule_matches_the_readers(nodule_segmenter, nodule):
    hu, truth = lidc_nodule(nodule)
    spacing = (1.25, 0.7, 0.7)
    found = nodule_segmenter.segment(hu, spacing, Seed(len(hu) // 2, 64, 64))
    assert found.found, found.reason
    consensus = measure_nodule(truth, spacing)
    dice = 2 * (found.mask & truth).sum() / (found.mask.sum() + truth.sum())
    assert dice > 0.75
    assert found.measures.volume_mm3 == pytest.approx(consensus.volume_mm3, rel=0.3)
    assert found.measures.diameters.long_mm == pytest.approx(consensus.diameters.long_mm, abs=3.0)
    assert found.measures.type is not None and found.measures.lung_rads is not None


def test_a_point_in_aerated_lung_finds_no_nodule(nodule_segmenter):
    hu, truth = lidc_nodule(PLUMBING)
    ys, xs = np.nonzero(~truth[len(hu) // 2] & (hu[len(hu) // 2] < -800))
    corner = np.argmax(np.hypot(ys - 64, xs - 64))  # the aerated pixel farthest from the nodule
    found = nodule_segmenter.segment(hu, (1.25, 0.7, 0.7), Seed(len(hu) // 2, int(ys[corner]), int(xs[corner])))
    assert not found.found and "no nodule" in found.reason


def test_nodules_at_points_run_through_the_study_pipeline(nodule_segmenter, tmp_path):
    """The fourth segmenter kind: the lungs (ct-lung), then the nodule at each point, through run_study."""
    import SimpleITK as sitk

    from lungseg.inference.core.pipeline import run_study
    from lungseg.inference.nodules import NoduleAtPoints
    from lungseg.inference.routing.load import load_segmenter
    from lungseg.labels import NODULE

    hu, truth = lidc_nodule(PLUMBING)
    z = len(hu) // 2
    ys, xs = np.nonzero(~truth[z] & (hu[z] < -800))
    corner = np.argmax(np.hypot(ys - 64, xs - 64))
    points = ((64, 64, z), (int(xs[corner]), int(ys[corner]), z))
    segmenter = NoduleAtPoints(load_segmenter("ct-lung", backend="onnx"), nodule_segmenter, points)
    run = run_study(segmenter, nifti(tmp_path / "nodule.nii.gz", hu), "ct-lung")
    nodule, empty = run.result.nodules
    assert nodule.found and nodule.how == "point" and nodule.at == points[0]
    assert not empty.found and "no nodule" in empty.notes[0] and not empty.measures
    mask = sitk.GetArrayFromImage(run.result.labels) == NODULE.value
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.75
    assert run.result.measurements.of(NODULE).volume_ml == pytest.approx(nodule.measures["volume_ml"], rel=0.02)
    assert run.result.models == ("ct-lung", "lung-nodule") and run.fields["nodule_points"] == [list(p) for p in points]
    with pytest.raises(Exception, match="outside the scan"):
        segmenter.replace(points=((500, 64, z),)).segment(tmp_path / "nodule.nii.gz")


def test_cli_nodule_writes_labels_report_and_overlay(tmp_path):
    hu, truth = lidc_nodule(PLUMBING)
    scan = nifti(tmp_path / "nodule.nii.gz", hu)
    out = tmp_path / "out"
    z = len(hu) // 2
    result = run_cli("nodule", scan, "--at", f"64,64,{z}", "--lungs", "none", "--out", out)
    assert result.returncode == 0, result.stderr
    assert re.search(r"nodule 1 at x=64 y=64 z=\d+: [\d.]+ mm³ .* Lung-RADS (2|3|4A|4B)", result.stdout)
    report = json.loads((out / "nodules.json").read_text())
    (row,) = report["nodules"]
    assert row["found"] and row["volume_mm3"] > 0 and row["lung_rads"] in {"2", "3", "4A", "4B"}
    assert "Lung-RADS" in report["lung_rads_note"] and report["disclaimer"]
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels.nii.gz")))
    assert set(np.unique(labels)) == {0, 7} and labels.sum() // 7 == round(row["volume_mm3"] / (0.7 * 0.7 * 1.25))
    assert (out / "nodule-1.png").is_file()


def test_cli_nodule_names_a_point_outside_the_scan(tmp_path):
    hu, _ = lidc_nodule(PLUMBING)
    scan = nifti(tmp_path / "nodule.nii.gz", hu)
    result = run_cli("nodule", scan, "--at", "500,64,1", "--lungs", "none")
    assert result.returncode == 2 and "outside the scan" in result.stderr and "Traceback" not in result.stderr


def test_compare_two_copies_with_a_known_slice_scaling(tmp_path):
    """The same nodule written twice, the second with slices 1.25x as far apart: +25 % volume, and over
    100 days a doubling time of 100 ln 2 / ln 1.25 = 311 days."""
    hu, _ = lidc_nodule(PLUMBING)
    old = nifti(tmp_path / "old.nii.gz", hu, (0.7, 0.7, 1.0))
    new = nifti(tmp_path / "new.nii.gz", hu, (0.7, 0.7, 1.25))
    z = len(hu) // 2
    point = f"64,64,{z}"
    result = run_cli(
        "nodule",
        "compare",
        old,
        new,
        "--at-old",
        point,
        "--at-new",
        point,
        "--interval-days",
        "100",
        "--out",
        tmp_path / "growth",
    )
    assert result.returncode == 0, result.stderr
    growth_report = json.loads((tmp_path / "growth" / "growth.json").read_text())["growth"]
    assert growth_report["change_percent"] == pytest.approx(25.0, abs=0.2)
    assert growth_report["volume_doubling_time_days"] == pytest.approx(311, abs=2)
    assert "given by the user" in growth_report["interval_source"]
    no_dates = run_cli("nodule", "compare", old, new, "--at-old", point, "--at-new", point)
    assert no_dates.returncode == 0 and "doubling time -" in no_dates.stdout


@pytest.mark.slow
def test_a_short_training_run_of_the_nodule_recipe_gives_a_crop_scale_nodule_model(tmp_path):
    """The recipe on the crops of four LIDC patients for one epoch: the checkpoint's card says it is a
    crop-scale nodule model (what makes the lesion stage search in windows) and it rebuilds its model."""
    from lungseg.config.files import merge_config
    from lungseg.inference import Predictor
    from lungseg.training import train_run

    data = tmp_path / "crops"
    patients = sorted({r["patient"] for r in lidc_rows()})[:4]
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
        for row in lidc_rows():
            if row["patient"] in patients:
                (data / sub / f"{row['id']}.png").symlink_to(shared("ct-nodule-lidc", sub, f"{row['id']}.png"))
    values = {"data.data": str(data), "data.split": "75/25/0", "train.epochs": 1, "train.batch_size": 8}
    config = merge_config(REPO / "recipes" / "lung-nodule.yaml", values)
    train_run(config, tmp_path / "run", log=lambda line: None)
    predictor = Predictor.load(tmp_path / "run" / "best.pt")
    assert predictor.card.nodule_crops and predictor.plan.image_size == 128
    assert predictor.card.class_names == ("nodule",) or list(predictor.card.class_names) == ["nodule"]
    mask = predictor.apply(shared("ct-nodule-lidc", "images", f"{patients[0]}_nodule-0_slice-0.png"))
    assert mask.shape == (128, 128)


@pytest.mark.slow
def test_candidates_on_popi_are_listed_in_the_report(popi_small, tmp_path):
    """predict --lesions lung-nodule on the POPI series: every candidate is a row of the report with its
    centre, probability and measures, and the nodule label in the label map; the summary names them."""
    import SimpleITK as sitk

    out = tmp_path / "popi.nii.gz"
    result = run_cli("predict", popi_small, out, "--lesions", "lung-nodule", "--report", "--no-tta")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "popi_report.json").read_text())
    rows = report["nodules"]
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert all(row["how"] == "candidate" and row["found"] for row in rows)
    assert [row["probability"] for row in rows] == sorted((row["probability"] for row in rows), reverse=True)
    for row in rows:
        assert row["volume_mm3"] > 0 and row["long_axis_mm"] >= row["short_axis_mm"] > 0 and row["type"]
    assert (labels == 7).any() == bool(rows)
    said = result.stdout + result.stderr
    assert "nodule" in said and "not a screening result" in said and (str(len(rows)) in said or not rows)


def test_the_two_stage_search_finds_a_held_out_nodule(nodule_segmenter):
    """lung-nodule's search variant finds, lung-nodule confirms and outlines: a nodule of a patient neither
    model saw (LIDC-IDRI-0011, CV fold 0) is a candidate, outlined like the readers' consensus."""
    from lungseg.inference.nodules.candidates import find_candidates, search_models

    point = nodule_segmenter.predictor
    assert not any(name.startswith("LIDC-IDRI-0011_") for name in point.card.split.train)  # held out
    searcher, name, confirm = search_models(point, "lung-nodule")
    assert name == "lung-nodule-search" and confirm is not None
    assert not any(n.startswith("LIDC-IDRI-0011_") for n in searcher.card.split.train)
    hu, truth = lidc_nodule("LIDC-IDRI-0011_nodule-9")
    found = find_candidates(searcher, hu, (1.25, 0.7, 0.7), np.ones(hu.shape, bool), confirm=confirm)
    hits = [c for c in found.found if (c.mask & truth).any()]
    assert len(hits) == 1
    mask = hits[0].mask
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.6  # the point model's outline
    assert hits[0].measures.volume_mm3 > 0 and hits[0].measures.mean_hu is not None


def test_two_components_outlined_as_one_nodule_are_one_candidate():
    """The two-stage search can confirm two components of one nodule from two centres: overlapping
    outlines make one candidate (the more probable); a component too small or of aerated lung is none."""
    from lungseg.inference.nodules.candidates import Candidate, _merged, _rejected

    mask, volume = disc_volume(8.0)
    measures = measure_nodule(mask, (1.0, 0.7, 0.7), volume)
    assert _rejected(measures) is None
    first = Candidate((2, 48, 48), 0.7, 0.6, measures, mask)
    second = Candidate((2, 48, 50), 0.9, 0.8, measures, np.roll(mask, 2, axis=2))
    apart = Candidate((2, 8, 8), 0.8, 0.7, measures, np.roll(mask, 40, axis=1))
    found = _merged(_merged(_merged([], first), second), apart)
    assert [c.probability for c in found] == [0.9, 0.8]
    tiny_mask, tiny_volume = disc_volume(2.0)
    assert _rejected(measure_nodule(tiny_mask, (1.0, 0.7, 0.7), tiny_volume)) == "small"
    assert _rejected(measure_nodule(mask, (1.0, 0.7, 0.7), np.full(volume.shape, -850.0, np.float32))) == "aerated"
