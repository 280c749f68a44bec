"""Damaged and unusual CT volumes and DICOM series, made from the real POPI chest CT (and the real
abdomen series): each is refused with its reason, or segmented with a warning and lung volumes close to
those of the clean file."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import shared
from damage import (
    dicom_subset,
    error_line,
    lung_ml,
    patch_nifti,
    popi_files,
    report_of,
    restore_stored,
    run,
    truncate,
)

pytestmark = pytest.mark.slow  # one CLI subprocess per case; `make test-fast` skips them

TOLERANCE = 0.03  # relative difference in lung volume that a harmless change may cause


def _segment(tmp_path, source, *extra, guard=()):
    out = tmp_path / "out" / "seg.nii.gz"
    result = run("predict", source, out, "--report", "--no-tta", *extra, guard=(source, *guard))
    return result, out


def _close(report: dict, reference: dict, tolerance: float = TOLERANCE) -> None:
    for got, expected in zip(lung_ml(report), lung_ml(reference)):
        assert abs(got - expected) <= tolerance * expected, (lung_ml(report), lung_ml(reference))


def _codes(report: dict) -> set[str]:
    return {finding["code"] for finding in report["findings"]}


def _image(popi_small, array: np.ndarray | None = None, spacing=None) -> sitk.Image:
    clean = sitk.ReadImage(str(popi_small))
    image = clean if array is None else sitk.GetImageFromArray(array)
    if array is not None:
        image.CopyInformation(clean)
    if spacing is not None:
        image.SetSpacing(spacing)
    return image


# --- files that cannot be read --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_truncated_volume_files(tmp_path, popi_small, suffix):
    whole = tmp_path / f"whole{suffix}"
    sitk.WriteImage(sitk.ReadImage(str(popi_small)), str(whole), useCompression=True)
    broken = truncate(whole, tmp_path / f"broken{suffix}")
    result, out = _segment(tmp_path, broken)
    error_line(result, 2, f"broken{suffix}", "truncated")
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b" + bytes(range(256)) * 40, b"not a volume at all\n" * 30])
def test_empty_or_garbage_nifti(tmp_path, content):
    victim = tmp_path / "scan.nii.gz"
    victim.write_bytes(content)
    result, _ = _segment(tmp_path, victim)
    error_line(result, 2, "scan.nii.gz")


def test_header_claiming_a_gigantic_volume(tmp_path, popi_small):
    victim = patch_nifti(popi_small, tmp_path / "giant.nii.gz", dims=(30000, 30000, 30000))
    result, _ = _segment(tmp_path, victim)
    error_line(result, 2, "giant.nii.gz", "header claims", "30000x30000x30000")


def test_four_dimensional_nifti_is_refused(tmp_path, popi_small):
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(popi_small)))
    victim = tmp_path / "4d.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.stack([array, array])), str(victim))
    result, _ = _segment(tmp_path, victim)
    error_line(result, 2, "4d.nii.gz", "3D single-channel volume")


# --- values: NaN, inf ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_patch_is_filled_with_a_warning(tmp_path, popi_small, popi_small_report, value):
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(popi_small))).astype(np.float32)
    array[2:5, 10:40, 10:40] = value  # outside the body, in the first slices
    victim = tmp_path / "patch.nii.gz"
    sitk.WriteImage(_image(popi_small, array), str(victim))
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    assert "2700 NaN/infinite value(s)" in result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert "non-finite" in _codes(report)
    _close(report, popi_small_report)


def test_all_nan_volume_is_refused(tmp_path, popi_small):
    array = np.full(sitk.GetArrayFromImage(sitk.ReadImage(str(popi_small))).shape, np.nan, np.float32)
    victim = tmp_path / "nan.nii.gz"
    sitk.WriteImage(_image(popi_small, array), str(victim))
    result, _ = _segment(tmp_path, victim)
    error_line(result, 2, "nan.nii.gz", "NaN or infinite", "100%")


# --- geometry in the header ----------------------------------------------------------------------


@pytest.mark.parametrize("pixdim", [(0.0, 0.0, 0.0), (float("nan"), 1.953125, 8.0), (-1.953125, -1.953125, -8.0)])
def test_invalid_nifti_spacing_falls_back_with_a_warning(tmp_path, popi_small, pixdim):
    victim = patch_nifti(popi_small, tmp_path / "spacing.nii.gz", pixdim=pixdim)
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    if pixdim[0] < 0:  # negative pixdim: ITK reads |pixdim| with a flipped direction, a valid volume
        assert lung_ml(report)[0] > 0
        return
    assert "spacing-invalid" in _codes(report) and "assumed" in result.stderr
    assert report["measurements"]["total"].get("volume_ml") is None and report["input"]["spacing_known"] is False
    assert report["measurements"]["total"]["voxels"] > 100_000


def test_spacing_in_metres_is_read_as_millimetres(tmp_path, popi_small, popi_small_report):
    victim = tmp_path / "metres.nii.gz"
    sitk.WriteImage(_image(popi_small, spacing=(0.001953125, 0.001953125, 0.008)), str(victim))
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert "spacing-units" in _codes(report)
    _close(report, popi_small_report)


@pytest.mark.parametrize("spacing", [(0.01, 0.01, 8.0), (50.0, 50.0, 100.0)])
def test_absurd_spacing_is_named_not_called_a_non_chest(tmp_path, popi_small, spacing):
    victim = tmp_path / "absurd.nii.gz"
    sitk.WriteImage(_image(popi_small, spacing=spacing), str(victim))
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert "spacing-invalid" in _codes(report) and "does not cover" not in result.stderr


def test_oblique_grid_too_large_to_resample_is_refused(tmp_path, popi_small):
    """Tiny pixels on a long, steeply tilted stack: the axial grid covering it would hold billions of voxels."""
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(popi_small)))[:, ::4, ::4]
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.05, 0.05, 30.0))
    image.SetDirection(sitk.VersorTransform((1, 1, 0), np.radians(45)).GetMatrix())
    victim = tmp_path / "oblique.nii.gz"
    sitk.WriteImage(image, str(victim))
    result, _ = _segment(tmp_path, victim)
    error_line(result, 2, "oblique.nii.gz", "resampling to an axial grid", "needs")


def test_rotated_real_volume_still_segments(tmp_path, popi_small, popi_small_report):
    """The real series rotated by 20 degrees about the patient's long axis (an oblique acquisition): it is
    resampled to axial with a warning and the lungs keep their volume."""
    image = sitk.ReadImage(str(popi_small))
    image.SetDirection(sitk.VersorTransform((0, 0, 1), np.radians(20)).GetMatrix())
    victim = tmp_path / "rotated.nii.gz"
    sitk.WriteImage(image, str(victim))
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert "oblique" in _codes(report)
    _close(report, popi_small_report, tolerance=0.06)


# --- DICOM series --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dicom_reference(tmp_path_factory) -> dict:
    """The clean every-third-slice POPI series (24 slices, 12 mm apart) and its report."""
    folder = dicom_subset(tmp_path_factory.mktemp("dicom-clean") / "series")
    out = tmp_path_factory.mktemp("dicom-clean-out") / "seg.nii.gz"
    result = run("predict", folder, out, "--report", "--no-tta")
    assert result.returncode == 0, result.stderr
    return report_of(out.with_name("seg_report.json"))


def test_single_slice_series_is_segmented_as_partial(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(popi_files()[35], folder)
    result, out = _segment(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert "partial-coverage" in _codes(report) and "does not cover" not in result.stderr


@pytest.mark.parametrize("slope, intercept", [(0.5, -1024.0), (2.0, -1024.0), (1.0, -1000.0)])
def test_unusual_but_valid_rescale(tmp_path, dicom_reference, slope, intercept):
    def edit(dataset, index):
        hu = dataset.pixel_array.astype(np.float64) * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
        restore_stored(dataset, np.clip(hu, intercept, None), slope, intercept)

    folder = dicom_subset(tmp_path / "series", edit=edit)
    result, out = _segment(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    _close(report_of(out.with_name("seg_report.json")), dicom_reference)


@pytest.mark.parametrize(
    "value, code", [([0, 0], "spacing-invalid"), (["0.0009765625", "0.0009765625"], "spacing-units")]
)
def test_dicom_pixel_spacing_zero_or_in_metres(tmp_path, dicom_reference, value, code):
    def edit(dataset, index):
        dataset.PixelSpacing = value
        if code == "spacing-units":
            dataset.ImagePositionPatient = [float(v) / 1000 for v in dataset.ImagePositionPatient]
            dataset.SliceThickness = float(dataset.SliceThickness) / 1000

    folder = dicom_subset(tmp_path / "series", edit=edit)
    result, out = _segment(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert code in _codes(report)
    if code == "spacing-units":
        _close(report, dicom_reference)
    else:
        assert report["measurements"]["total"].get("volume_ml") is None


def test_dicom_header_claiming_a_gigantic_image(tmp_path):
    def edit(dataset, index):
        dataset.Rows, dataset.Columns = 65535, 65535

    folder = dicom_subset(tmp_path / "series", every=12, edit=edit)
    result, _ = _segment(tmp_path, folder)
    error_line(result, 2, "header claims", "65535x65535")


def test_dicom_tag_that_is_not_a_number(tmp_path):
    folder = dicom_subset(tmp_path / "series", every=12)
    spacing = b"0.9765625\\0.9765625"  # PixelSpacing as stored; pydicom will not write a bad DS itself
    for victim in folder.iterdir():
        data = victim.read_bytes()
        assert spacing in data
        victim.write_bytes(data.replace(spacing, b"abcdefghi\\abcdefghi"))
    result, _ = _segment(tmp_path, folder)
    error_line(result, 2, ".dcm", "PixelSpacing")


def test_folder_whose_largest_series_is_not_the_chest(tmp_path, dicom_reference):
    folder = tmp_path / "visit"
    shutil.copytree(shared("ct-abdomen-totalseg", "dicom"), folder)  # 20 abdominal slices
    dicom_subset(folder, every=5, start=15, stop=75)  # 12 chest slices
    result, out = _segment(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    mixed = [f["message"] for f in report["findings"] if f["code"] == "mixed-series"]
    assert mixed and "rather than the largest" in mixed[0] and "12 slices" in mixed[0]
    assert report["input"]["dicom_files"] == 12


def test_junk_beside_the_series_is_ignored(tmp_path, dicom_reference):
    folder = dicom_subset(tmp_path / "series")
    (folder / "DICOMDIR.txt").write_text("exported by a PACS")
    (folder / "thumbs.jpg").write_bytes(b"\xff\xd8\xff not really")
    result, out = _segment(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    _close(report_of(out.with_name("seg_report.json")), dicom_reference, tolerance=0.0)


def test_gzip_bomb_header_is_bounded(tmp_path, popi_small):
    """A small file whose header claims an enormous volume is refused before decompression."""
    raw = bytearray(gzip.decompress(popi_small.read_bytes())[:352])
    raw[42:48] = np.array([4096, 4096, 4096], "<i2").tobytes()
    victim = tmp_path / "bomb.nii.gz"
    victim.write_bytes(gzip.compress(bytes(raw) + bytes(1 << 20)))
    result, _ = _segment(tmp_path, victim)
    error_line(result, 2, "bomb.nii.gz", "header claims")


def test_nifti_named_gz_but_not_compressed(tmp_path, popi_small, popi_small_report):
    victim = tmp_path / "plain.nii.gz"
    victim.write_bytes(gzip.decompress(popi_small.read_bytes()))
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    _close(report_of(out.with_name("seg_report.json")), popi_small_report, tolerance=0.0)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_zero_spacing_in_a_text_header_falls_back(tmp_path, popi_small, popi_small_report, suffix):
    """ITK refuses to read these at all; the voxels are fine, so they are read with an assumed spacing."""
    import re

    whole = tmp_path / f"whole{suffix}"
    sitk.WriteImage(sitk.ReadImage(str(popi_small)), str(whole))
    data = whole.read_bytes()
    if suffix == ".nrrd":
        data = re.sub(rb"space directions: [^\n]*", b"space directions: (0,0,0) (0,0,0) (0,0,0)", data, count=1)
    else:
        data = re.sub(rb"ElementSpacing = [^\n]*", b"ElementSpacing = 0 0 0", data, count=1)
    victim = tmp_path / f"zero{suffix}"
    victim.write_bytes(data)
    result, out = _segment(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    report = report_of(out.with_name("seg_report.json"))
    assert "spacing-invalid" in _codes(report) and report["measurements"]["total"].get("volume_ml") is None

    # the same lung-model voxels; how many of them are airways depends on the spacing in mm (an assumed one here)
    def labelled(measures: dict) -> int:
        return measures["total"]["voxels"] + measures.get("airways", {}).get("voxels", 0)

    assert labelled(report["measurements"]) == labelled(popi_small_report["measurements"])
