"""Output paths, as users spell them: no command writes over its inputs or leaves a half-written output.

Every case runs the CLI in a subprocess on real shared data and checks the exit code, the one error line
naming the path, that guarded files (inputs, earlier outputs) are byte-identical afterwards and that no
temporary file is left behind.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import shared
from damage import dicom_subset, error_line, run, temporary_files

KMADER_IMAGE = ("ct-lung-kmader", "images", "ID_0000_Z_0142.tif")


@pytest.fixture()
def scan(tmp_path, popi_small):
    folder = tmp_path / "v"
    folder.mkdir()
    return shutil.copy(popi_small, folder / "scan.nii.gz")


def test_output_folder_holding_the_input_is_refused(scan):
    result = run("predict", scan, scan.parent, guard=(scan,))
    error_line(result, 2, "scan.nii.gz", "never writes over its input")


def test_batch_output_folder_is_its_input_folder(tmp_path, popi_small):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(popi_small, batch / "a.nii.gz")
    shutil.copy(shared(*KMADER_IMAGE), batch / "b.tif")
    result = run("predict", batch, batch, guard=(batch,))
    error_line(result, 2, "batch")


@pytest.mark.parametrize("spelling", ["same", "relative", "dot-dot", "symlink", "hardlink"])
def test_output_file_that_is_the_input_however_spelled(scan, spelling):
    folder = scan.parent
    if spelling == "same":
        output, cwd = scan, None
    elif spelling == "relative":
        output, cwd = "scan.nii.gz", folder
    elif spelling == "dot-dot":
        output, cwd = f"../{folder.name}/./scan.nii.gz", folder
    elif spelling == "symlink":
        output, cwd = folder / "link.nii.gz", None
        output.symlink_to(scan)
    else:
        output, cwd = folder / "hard.nii.gz", None
        os.link(scan, output)
    result = run("predict", scan, output, "--no-tta", cwd=cwd, guard=(scan,))
    error_line(result, 2, "never writes over its input")


def test_output_inside_the_input_dicom_folder(tmp_path):
    series = dicom_subset(tmp_path / "series", every=6)
    result = run("predict", series, series / "seg.nii.gz", guard=(series,))
    error_line(result, 2, "seg.nii.gz", "inside the input folder")
    assert not (series / "seg.nii.gz").exists()


def test_output_whose_parent_is_a_file(tmp_path, scan):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = run("predict", scan, blocker / "out.nii.gz", guard=(scan, blocker))
    error_line(result, 2, "out.nii.gz", "is a file, not a folder")


def test_output_that_is_an_existing_folder_with_a_mask_suffix(tmp_path, scan):
    folder = tmp_path / "out.nii.gz"
    folder.mkdir()
    result = run("predict", scan, folder, guard=(scan,))
    error_line(result, 2, "out.nii.gz", "existing folder")
    assert not any(folder.iterdir())


def test_output_in_an_unwritable_place(scan):
    result = run("predict", scan, "/proc/lungseg-test/out.nii.gz", guard=(scan,))
    error_line(result, 2, "/proc/lungseg-test")


def test_refused_study_leaves_an_earlier_output_untouched(tmp_path):
    earlier = tmp_path / "out.nii.gz"
    earlier.write_bytes(b"an earlier result the user keeps")
    report = tmp_path / "out_report.json"
    report.write_text("{}")
    result = run("predict", shared("ct-abdomen-totalseg", "dicom"), earlier, "--report", guard=(earlier, report))
    error_line(result, 2, "does not cover the chest")


def test_batch_with_one_bad_study_writes_the_others(tmp_path, popi_small):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(popi_small, batch / "good.nii.gz")
    (batch / "broken.nii.gz").write_bytes(popi_small.read_bytes()[:5000])
    out = tmp_path / "out"
    result = run("predict", batch, out, "--no-tta", "--report", guard=(batch,))
    assert result.returncode == 1, result.stderr
    error_line(result, 1, "broken.nii.gz")
    assert (out / "good.nii.gz").is_file() and (out / "good_report.json").is_file()
    assert not (out / "broken.nii.gz").exists() and not (out / "broken_report.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    status = {row["study"].split("/")[-1]: row["status"] for row in summary}
    assert status["broken.nii.gz"] == "refused" and status["good.nii.gz"] in ("ok", "flagged")  # half-res: flagged
    assert not temporary_files(out)


def test_two_studies_that_would_write_one_file(tmp_path, popi_small):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(popi_small, batch / "a.nii.gz")
    shutil.copy(popi_small, batch / "A.nii.gz")
    result = run("predict", batch, tmp_path / "out", guard=(batch,))
    error_line(result, 2, "would write this file")
    assert not (tmp_path / "out").exists()


def test_existing_output_is_replaced_only_by_a_complete_result(tmp_path, scan):
    out = tmp_path / "out.nii.gz"
    out.write_bytes(b"old")
    result = run("predict", scan, out, "--no-tta", guard=(scan,))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:2] == b"\x1f\x8b" and not temporary_files(tmp_path)


def test_evaluate_out_is_a_file(tmp_path):
    blocker = tmp_path / "metrics"
    blocker.write_text("mine")
    kmader = shared("ct-lung-kmader")
    result = run(
        "evaluate",
        "--model",
        "ct-lung",
        "--images",
        kmader / "images",
        "--masks",
        kmader / "masks",
        "--out",
        blocker,
        guard=(blocker,),
    )
    error_line(result, 2, "metrics", "existing file")


def test_evaluate_out_inside_the_masks_folder(kmader_subset):
    result = run(
        "evaluate",
        "--model",
        "ct-lung",
        "--images",
        kmader_subset / "images",
        "--masks",
        kmader_subset / "masks",
        "--out",
        kmader_subset / "masks" / "eval",
        guard=(kmader_subset,),
    )
    error_line(result, 2, "inside the input folder")


def test_evaluate_failure_keeps_the_earlier_evaluation(tmp_path, kmader):
    data = tmp_path / "data"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    names = sorted(p.name for p in (kmader / "images").iterdir())[:3]
    for name in names:
        shutil.copy(kmader / "images" / name, data / "images" / name)
        shutil.copy(kmader / "masks" / name, data / "masks" / name)
    out = tmp_path / "eval"
    folders = ("--images", data / "images", "--masks", data / "masks")
    first = run("evaluate", "--model", "ct-lung", *folders, "--out", out)
    assert first.returncode == 0, first.stderr
    (data / "masks" / names[2]).write_bytes((kmader / "masks" / names[2]).read_bytes()[:2000])  # damaged later
    result = run("evaluate", "--model", "ct-lung", *folders, "--out", out, guard=(out,))
    error_line(result, 2, names[2])


def test_export_over_its_own_checkpoint(tmp_path):
    model = shutil.copy(_shipped("ct-lung.pt"), tmp_path / "model.pt")
    result = run("export", model, "--model", model, guard=(model,))
    error_line(result, 2, "model.pt", "never writes over its input")


def test_export_into_a_file_or_a_missing_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    error_line(run("export", blocker / "m.onnx", guard=(blocker,)), 2, "is a file, not a folder")
    result = run("export", tmp_path / "new" / "deeper" / "m.onnx")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "deeper" / "m.onnx").stat().st_size > 1_000_000


def test_data_check_out_over_an_image_or_a_folder(kmader_subset, tmp_path):
    image = sorted((kmader_subset / "images").iterdir())[0]
    result = run("data", "check", kmader_subset, "--out", image, guard=(kmader_subset,))
    error_line(result, 2, image.name)
    error_line(run("data", "check", kmader_subset, "--out", tmp_path), 2, "existing folder")


def test_train_out_is_a_file_or_the_data(tmp_path, kmader_subset):
    blocker = tmp_path / "run"
    blocker.write_text("x")
    result = run("train", "--data", kmader_subset, "--out", blocker, "--epochs", "1", guard=(blocker,))
    error_line(result, 2, "run", "existing file")
    result = run(
        "train", "--data", kmader_subset, "--out", kmader_subset / "images", "--epochs", "1", guard=(kmader_subset,)
    )
    error_line(result, 2, "inside the input folder")


def test_report_out_is_a_file(tmp_path):
    blocker = tmp_path / "report"
    blocker.write_text("x")
    error_line(run("report", tmp_path, "--out", blocker, guard=(blocker,)), 2, "report", "existing file")


def _shipped(name: str):
    from lungseg.io.shipped import WEIGHTS_DIR

    return WEIGHTS_DIR / name


@pytest.mark.parametrize("name", ["mask.jpg", "mask.nii", "mask.tif", "result.json"])
def test_output_named_like_a_file_of_another_format(tmp_path, scan, name):
    result = run("predict", scan, tmp_path / name, guard=(scan,))
    error_line(result, 2, name, "not an output format")
    assert not (tmp_path / name).exists()
