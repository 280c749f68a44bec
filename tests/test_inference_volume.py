"""CT volumes end to end with the shipped ct-lung model on the real POPI chest CT series."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from conftest import run_cli, shared
from lungseg.inference import Segmenter
from lungseg.io import read_dicom_series


@pytest.fixture(scope="module")
def popi() -> object:
    return shared("ct-volume-popi", "dicom")


@pytest.fixture(scope="module")
def popi_outputs(tmp_path_factory, popi):
    out = tmp_path_factory.mktemp("popi")
    result = run_cli("predict", popi, out / "popi.nii.gz", "--overlay", "--report")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.from_pretrained("ct-lung")


def test_popi_mask_keeps_the_source_geometry_and_labels_sides(popi_outputs, popi):
    source = read_dicom_series(popi).image
    labels = sitk.ReadImage(str(popi_outputs / "popi.nii.gz"))
    assert labels.GetSize() == source.GetSize()
    assert np.allclose(labels.GetSpacing(), source.GetSpacing())
    assert np.allclose(labels.GetOrigin(), source.GetOrigin())
    assert np.allclose(labels.GetDirection(), source.GetDirection())
    array = sitk.GetArrayFromImage(labels)
    assert set(np.unique(array)) == {0, 1, 2, 8}  # 8: the trachea and main bronchi (airways, issue 24)
    # LPS: physical x grows towards the patient's left, so the right lung (1) has the smaller x
    x_of = {
        label: np.mean(
            [labels.TransformIndexToPhysicalPoint((int(x), 0, 0))[0] for x in np.nonzero(array == label)[2][::5000]]
        )
        for label in (1, 2)
    }
    assert x_of[1] < x_of[2] - 50


def test_popi_report_volumes_and_overlays(popi_outputs):
    report = json.loads((popi_outputs / "popi_report.json").read_text())
    right, left = report["measurements"]["right_lung"], report["measurements"]["left_lung"]
    assert 1500 < right["volume_ml"] < 4500 and 1200 < left["volume_ml"] < 4000  # an adult's lungs
    assert right["volume_ml"] > left["volume_ml"]  # the right lung is the larger one
    assert -900 < right["mean_hu"] < -650 and 0 <= right["percent_below_-950_hu"] < 10
    chosen, *others = report["findings"]  # --model auto (the default) says which model it chose
    assert chosen["code"] == "model-chosen" and "ct-lung" in chosen["message"] and "3D volume" in chosen["message"]
    assert report["status"] == "ok" and others == []
    assert report["quality"]["score"] > 0.95 and len(report["quality"]["per_slice"]) == 71
    assert "not a medical device" in report["disclaimer"]
    for name in ("popi_axial.png", "popi_coronal.png"):
        picture = np.asarray(Image.open(popi_outputs / name))
        assert picture.ndim == 3 and picture.shape[2] == 3
        red = (picture[..., 0] > 200) & (picture[..., 2] < 120)
        blue = (picture[..., 2] > 200) & (picture[..., 0] < 120)
        assert red.sum() > 200 and blue.sum() > 200
        tile = 256  # in every tile showing both lungs the right one (red) is on the image left
        both = 0
        for left in range(0, picture.shape[1], tile):
            r, b = np.nonzero(red[:, left : left + tile])[1], np.nonzero(blue[:, left : left + tile])[1]
            if len(r) > 50 and len(b) > 50:
                both += 1
                assert r.mean() < b.mean(), (name, left)
        assert both >= 1


@pytest.mark.slow
def test_dicom_seg_references_the_source_and_matches_the_mask(tmp_path, popi_outputs, popi):
    seg_path = tmp_path / "popi-seg.dcm"
    result = run_cli("predict", popi, seg_path, "--no-tta")
    assert result.returncode == 0, result.stderr
    series = read_dicom_series(popi)
    back = read_dicom_seg(seg_path, series.files)
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(popi_outputs / "popi.nii.gz")))
    assert back.shape == expected.shape
    agreement = np.mean(back == expected)  # --no-tta vs TTA: nearly the same voxels
    assert agreement > 0.995

    import highdicom as hd

    seg = hd.seg.segread(seg_path)
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == series.header.StudyInstanceUID
    # the lungs and the airways taken out of them (label 8, "Trachea and bronchus")
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Right lung", "Left lung", "Trachea and bronchus"]
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert len(referenced) == 71
    source_positions = {
        tuple(
            round(float(v), 2) for v in __import__("pydicom").dcmread(f, stop_before_pixels=True).ImagePositionPatient
        )
        for f in series.files
    }
    frame_positions = {
        tuple(round(float(v), 2) for v in frame.PlanePositionSequence[0].ImagePositionPatient)
        for frame in seg.PerFrameFunctionalGroupsSequence
    }
    assert frame_positions <= source_positions


@pytest.mark.slow
def test_reoriented_input_gives_the_same_lungs(segmenter, popi):
    image = read_dicom_series(popi).image
    reference = sitk.GetArrayFromImage(segmenter.apply(image))
    flipped = sitk.DICOMOrient(image, "RAS")  # another axis convention, same anatomy
    sagittal = sitk.PermuteAxes(image, [2, 0, 1])  # slices stacked left to right, as a sagittal series
    for variant in (flipped, sagittal):
        labels = segmenter.segment(variant)
        assert labels.labels.GetSize() == variant.GetSize()
        back = sitk.Resample(labels.labels, image, sitk.Transform(), sitk.sitkNearestNeighbor)
        assert np.array_equal(sitk.GetArrayFromImage(back), reference)
    codes = [f.code for f in segmenter.segment(sagittal).findings]
    assert "non-axial" in codes


def test_2d_slice_and_numpy_volume_through_the_api(segmenter, kmader):
    from lungseg.io import read_image

    image = read_image(sorted((kmader / "images").iterdir())[0])
    labels = segmenter.apply(image)
    assert labels.shape == image.shape and labels.dtype == np.uint8
    columns = np.arange(image.shape[1])
    assert columns[np.nonzero(labels == 1)[1]].mean() < columns[np.nonzero(labels == 2)[1]].mean()
    volume = np.stack([image] * 4)
    result = segmenter.segment(volume)
    assert result.labels.GetSize() == (image.shape[1], image.shape[0], 4)
    assert result.measurements.total.volume_ml is None  # no spacing known for a bare array


def test_batch_mode_reports_each_study(tmp_path, popi):
    batch = tmp_path / "batch"
    batch.mkdir()
    abdomen = shared("ct-abdomen-totalseg", "dicom")
    (batch / "abdomen").symlink_to(abdomen)
    image = shared("ct-lung-kmader", "images")
    first = sorted(image.iterdir())[0]
    (batch / first.name).symlink_to(first)
    (batch / "notes.txt").write_text("not a study")
    result = run_cli("predict", batch, tmp_path / "out", "--no-tta")
    assert result.returncode == 1, result.stderr  # the abdomen is refused, the slice is segmented
    assert "does not cover the chest" in result.stderr and "wrote 1 of 2 masks" in result.stderr
    assert "skipped 1 entries" in result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {row["status"] for row in summary} == {"refused", "ok"}
    assert (tmp_path / "out" / f"{first.stem}.png").is_file()


def read_dicom_seg(path, source_files) -> np.ndarray:
    """Read a SEG back as (Z, Y, X) segment numbers in the order of ``source_files`` (for checking)."""
    import highdicom as hd
    import pydicom

    segmentation = hd.seg.segread(path)
    uids = [pydicom.dcmread(file, stop_before_pixels=True).SOPInstanceUID for file in source_files]
    return np.asarray(
        segmentation.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, combine_segments=True, skip_overlap_checks=True
        )
    )
