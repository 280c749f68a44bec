"""Unsuitable or broken input for the CT lung model: each is refused or flagged with its reason.

Real shared files are altered the way real archives go wrong (tags rewritten, slices removed or
duplicated, values shifted); every case checks the message the user sees.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import tifffile

from conftest import run_cli, shared
from lungseg.errors import InputError
from lungseg.inference import Segmenter
from lungseg.inference.core.checks import check_orientation
from lungseg.io import read_dicom_series


def _error(result, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.from_pretrained("ct-lung", tta=False)


@pytest.fixture()
def popi_copy(tmp_path):
    target = tmp_path / "popi"
    shutil.copytree(shared("ct-volume-popi", "dicom"), target)
    return target


def _rewrite(path, **tags):
    """Rewrite tags of a real file (POPI's malformed private tag needs pydicom's lenient mode)."""
    previous = pydicom.config.convert_wrong_length_to_UN
    pydicom.config.convert_wrong_length_to_UN = True
    try:
        dataset = pydicom.dcmread(path)
        for key, value in tags.items():
            setattr(dataset, key, value)
        dataset.save_as(path)
    finally:
        pydicom.config.convert_wrong_length_to_UN = previous


def test_xray_jpeg_is_refused(tmp_path):
    xray = shared("xray-lung-montgomery", "images", "1.jpg")
    # ct-lung takes 8-bit CT exports through its 8-bit variant, but a radiograph is still refused
    _error(
        run_cli("predict", xray, tmp_path / "o.png", "--model", "ct-lung"),
        "1.jpg",
        "8-bit picture",
        "radiograph",
        "not an export of CT in Hounsfield units",
        "use --model xray-lung",
    )


def test_xray_modality_dicom_is_refused(tmp_path):
    source = sorted(shared("ct-volume-popi", "dicom").iterdir())[30]
    victim = tmp_path / "chest-film.dcm"
    shutil.copy(source, victim)
    _rewrite(victim, Modality="CR")
    _error(
        run_cli("predict", victim, tmp_path / "o.png", "--model", "ct-lung"),
        "chest-film.dcm",
        "modality CR",
        "projection X-ray",
    )
    # --model auto sends a CR file to the X-ray model, which sees HU values in it and refuses them
    _error(run_cli("predict", victim, tmp_path / "o.png"), "chest-film.dcm", "Hounsfield units, not a radiograph")


def test_16bit_radiograph_without_air_is_refused(tmp_path):
    picture = (
        np.asarray(
            __import__("PIL.Image", fromlist=["Image"])
            .open(shared("xray-lung-montgomery", "images", "2.jpg"))
            .convert("L"),
            dtype=np.uint16,
        )
        * 16
    )
    victim = tmp_path / "film16.tif"
    tifffile.imwrite(victim, picture[::4, ::4].astype(np.int16))
    _error(
        run_cli("predict", victim, tmp_path / "o.png", "--model", "ct-lung"),
        "film16.tif",
        "no values below -500",
        "not CT",
    )


def test_values_without_rescale_intercept_are_refused(tmp_path, segmenter):
    image = read_dicom_series(shared("ct-volume-popi", "dicom")).image
    raw = sitk.Cast(image, sitk.sitkInt32) + 1024  # stored values, RescaleIntercept not applied
    path = tmp_path / "raw.nii.gz"
    sitk.WriteImage(raw, str(path))
    _error(run_cli("predict", path, tmp_path / "o.nii.gz"), "raw.nii.gz", "not CT in Hounsfield units")


def test_abdomen_ct_is_refused(tmp_path):
    abdomen = shared("ct-abdomen-totalseg", "dicom")
    _error(run_cli("predict", abdomen, tmp_path / "o.nii.gz"), "ct-abdomen-totalseg", "does not cover the chest")
    assert not (tmp_path / "o.nii.gz").exists()


def test_larger_abdomen_volume_with_bowel_gas_is_refused(segmenter):
    path = shared("ct-abdomen-totalseg", "nifti", "example_ct.nii.gz")
    with pytest.raises(InputError, match="example_ct.nii.gz: .*air-like.*does not cover the chest"):
        segmenter.segment(path)


def test_partial_chest_is_flagged(segmenter):
    image = read_dicom_series(shared("ct-volume-popi", "dicom")).image
    middle = image[:, :, 20:45]  # the middle of the chest only: lungs run through both ends
    result = segmenter.segment(middle)
    codes = {f.code: f.message for f in result.findings}
    assert "partial-coverage" in codes and "bottom and top" in codes["partial-coverage"]
    assert result.flagged


def test_missing_and_duplicate_slices_are_reported(popi_copy, tmp_path):
    files = sorted(popi_copy.iterdir())
    for victim in files[30:33]:
        victim.unlink()
    shutil.copy(files[10], popi_copy / "zz-copy-of-slice.dcm")
    result = run_cli("predict", popi_copy, tmp_path / "out.nii.gz", "--report", "--no-tta")
    assert result.returncode == 0, result.stderr
    assert "duplicate slice position" in result.stderr and "missing slices" in result.stderr
    report = json.loads((tmp_path / "out_report.json").read_text())
    assert {f["code"] for f in report["findings"]} >= {"duplicate-slices", "missing-slices"}
    assert report["status"] == "flagged" and report["input"]["size"][2] == 68


def test_mixed_series_and_gantry_tilt_are_reported(popi_copy):
    files = sorted(popi_copy.iterdir())
    other_series = pydicom.uid.generate_uid()
    for path in files[:3]:
        _rewrite(path, SeriesInstanceUID=other_series)  # another series in the folder
    series = read_dicom_series(popi_copy)
    assert len(series.files) == 68 and "holds 2 series" in series.notes[0]
    for index, path in enumerate(sorted(series.files)):
        position = [float(v) for v in pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient]
        _rewrite(path, ImagePositionPatient=[position[0], position[1] + 0.35 * 4 * index, position[2]])
    tilt = [f for f in read_dicom_series(popi_copy).findings if f.code == "gantry-tilt"]
    assert tilt and "gantry tilt of 19" in tilt[0].message


def test_malformed_private_tag_still_loads_and_truncated_file_is_named(popi_copy, tmp_path):
    series = read_dicom_series(popi_copy)  # POPI carries a malformed private tag (01F1,1026)
    assert series.image.GetSize() == (512, 512, 71)
    victim = sorted(popi_copy.iterdir())[5]
    victim.write_bytes(victim.read_bytes()[:3000])
    _error(run_cli("predict", popi_copy, tmp_path / "o.nii.gz"), victim.name)


def test_oblique_and_non_axial_directions_are_named():
    """Pure direction checks; the real POPI series rotated is segmented in test_findings.py."""
    assert [f.code for f in check_orientation(sitk.VersorTransform((0, 1, 0), np.radians(20)).GetMatrix())] == [
        "oblique"
    ]
    sagittal = (0, 0, 1, 1, 0, 0, 0, 1, 0)  # slice normal along the patient's left-right axis
    assert [f.code for f in check_orientation(sagittal)] == ["non-axial"]
    assert check_orientation(tuple(np.eye(3).ravel())) == []


def test_non_ct_modality_and_rgb_volume_are_refused(tmp_path):
    source = sorted(shared("ct-volume-popi", "dicom").iterdir())[30]
    victim = tmp_path / "mr.dcm"
    shutil.copy(source, victim)
    _rewrite(victim, Modality="MR")
    _error(run_cli("predict", victim, tmp_path / "o.png"), "mr.dcm", "modality MR is not CT")
    rgb = sitk.Image([16, 16, 4], sitk.sitkVectorUInt8, 3)
    path = tmp_path / "rgb.nii.gz"
    sitk.WriteImage(rgb, str(path))
    _error(run_cli("predict", path, tmp_path / "o.nii.gz"), "rgb.nii.gz", "3D single-channel volume")


def test_slice_without_lungs_is_refused(tmp_path):
    abdomen = sitk.GetArrayFromImage(read_dicom_series(shared("ct-abdomen-totalseg", "dicom")).image)
    victim = tmp_path / "abdomen-slice.tif"
    tifffile.imwrite(victim, abdomen[10].astype(np.int16))
    _error(run_cli("predict", victim, tmp_path / "o.png"), "abdomen-slice.tif", "does not seem to show the chest")


def test_wrong_output_format_for_the_input(tmp_path):
    popi = shared("ct-volume-popi", "dicom")
    _error(run_cli("predict", popi, tmp_path / "o.png"), "dicom", "png is for 2D slices")
    image = sorted(shared("ct-lung-kmader", "images").iterdir())[0]
    _error(run_cli("predict", image, tmp_path / "o.dcm"), image.name, "needs a DICOM source series")
