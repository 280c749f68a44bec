import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import shared
from lungseg.errors import InputError
from lungseg.io import (
    file_kind,
    holds_dicom,
    read_dicom_series,
    read_dicom_slice,
    read_image,
    read_mask,
    read_volume,
    write_volume,
)


def test_int16_hu_tiff(kmader):
    image = read_image(kmader / "images" / "ID_0000_Z_0142.tif")
    assert image.dtype == np.int16 and image.shape == (512, 512)
    assert image.min() < -900 and image.max() > 500  # air and bone in HU


def test_8bit_gray_jpg_and_png():
    jpg = read_image(shared("covid-infection", "train", "images", "0.jpg"))
    png = read_image(shared("lung-tumor-msd", "images", "10035_100.png"))
    assert jpg.dtype == np.uint8 and jpg.shape == (369, 273)
    assert png.dtype == np.uint8 and png.shape == (512, 512)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_images_become_gray(tmp_path, mode):
    gray = read_image(shared("lung-tumor-msd", "images", "10035_100.png"))
    path = tmp_path / f"colour.{'png'}"
    Image.fromarray(gray).convert(mode).save(path)
    converted = read_image(path)
    assert converted.shape == gray.shape and converted.dtype == np.uint8
    assert np.abs(converted.astype(int) - gray).max() <= 1


def test_masks_in_every_format_agree(tmp_path, kmader):
    truth = read_mask(kmader / "masks" / "ID_0000_Z_0142.tif")
    assert truth.dtype == bool and 0.1 < truth.mean() < 0.5
    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "m.png")
    np.save(tmp_path / "m.npy", truth.astype(np.uint8))
    np.savez(tmp_path / "m.npz", mask=truth, other=np.zeros(3))
    for name in ("m.png", "m.npy", "m.npz"):
        assert np.array_equal(read_mask(tmp_path / name), truth), name


def test_antialiased_mask_thresholded_at_128(tmp_path):
    values = np.array([[0, 10, 127, 128, 200, 255, 0, 0]] * 8, dtype=np.uint8)
    Image.fromarray(values).save(tmp_path / "soft.png")
    assert read_mask(tmp_path / "soft.png")[0].tolist() == [False, False, False, True, True, True, False, False]
    binary = np.array([[0, 1, 1, 0, 0, 0, 0, 0]] * 8, dtype=np.uint8)
    Image.fromarray(binary).save(tmp_path / "binary.png")
    assert read_mask(tmp_path / "binary.png")[0, 1]  # {0, 1} masks: non-zero is foreground


def test_mask_rule_for_labels_percent_and_probabilities(tmp_path):
    from lungseg.io import read_mask_with_rule

    labels = np.array([[0, 1, 2, 2, 0, 1, 0, 0]] * 8, dtype=np.uint8)
    Image.fromarray(labels).save(tmp_path / "labels.png")
    mask, rule = read_mask_with_rule(tmp_path / "labels.png")
    assert mask[0].tolist() == [False, True, True, True, False, True, False, False] and rule.startswith("label map")
    assert read_mask(tmp_path / "labels.png", labels=(2,))[0].tolist() == [False, False, True, True] + [False] * 4
    percent = np.array([[0, 10, 49, 50, 99, 100, 0, 0]] * 8, dtype=np.uint8)
    Image.fromarray(percent).save(tmp_path / "percent.png")
    assert read_mask(tmp_path / "percent.png")[0].tolist() == [False, False, False, True, True, True, False, False]
    np.save(tmp_path / "p.npy", np.array([[0.0, 0.2, 0.49, 0.5, 0.9, 0.0, 0.0, 0.0]] * 8, np.float32))
    assert read_mask(tmp_path / "p.npy")[0].tolist() == [False, False, False, True, True, False, False, False]


def test_corrupt_tiff_names_the_file(tmp_path, kmader):
    path = tmp_path / "broken.tif"
    path.write_bytes((kmader / "images" / "ID_0000_Z_0142.tif").read_bytes()[:3000])
    with pytest.raises(InputError, match="broken.tif: cannot read TIFF"):
        read_image(path)


def test_non_image_files_are_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(InputError, match="notes.txt: not a supported image file type"):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="fake.png: cannot read image"):
        read_image(tmp_path / "fake.png")
    with pytest.raises(InputError, match="missing.png: file not found"):
        read_image(tmp_path / "missing.png")


def test_dicom_slice_in_hu():
    path = sorted(shared("ct-volume-popi", "dicom").iterdir())[30]
    pixels = read_dicom_slice(path)
    assert pixels.shape == (512, 512)
    assert pixels.min() <= -1000 and pixels.max() > 200  # RescaleIntercept -1024 applied


def test_dicom_series_sorted_by_position_despite_malformed_tag():
    series = read_dicom_series(shared("ct-volume-popi", "dicom"))
    image = series.image
    assert image.GetSize() == (512, 512, 71)
    assert image.GetSpacing() == pytest.approx((0.9765625, 0.9765625, 4.0))
    # slices sorted along the normal: origin is the lowest (most inferior) slice
    assert image.GetOrigin()[2] == pytest.approx(-164.5)
    import SimpleITK as sitk

    volume = sitk.GetArrayViewFromImage(image)
    assert volume.min() <= -1000 and volume.max() > 1000


def test_largest_series_is_chosen_and_said(tmp_path):
    for source in (shared("ct-volume-popi", "dicom"), shared("ct-abdomen-totalseg", "dicom")):
        for path in source.iterdir():
            shutil.copy(path, tmp_path / f"{source.parent.name}-{path.name}")
    series = read_dicom_series(tmp_path)
    assert series.image.GetSize()[2] == 71
    assert any("2 series" in note for note in series.notes)


def test_empty_or_non_dicom_folder(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="no DICOM files found"):
        read_dicom_series(tmp_path)


def test_nifti_keeps_geometry_and_round_trips(tmp_path):
    image = read_volume(shared("ct-abdomen-totalseg", "nifti", "example_ct.nii.gz"))
    assert image.GetDimension() == 3
    for suffix in (".nrrd", ".mha", ".nii.gz"):
        write_volume(tmp_path / f"copy{suffix}", image)
        again = read_volume(tmp_path / f"copy{suffix}")
        assert again.GetSpacing() == pytest.approx(image.GetSpacing())
        assert again.GetOrigin() == pytest.approx(image.GetOrigin())
        assert again.GetDirection() == pytest.approx(image.GetDirection())
    with pytest.raises(InputError, match="not a supported volume type"):
        read_volume(tmp_path / "x.png")


def test_file_kind_by_suffix_then_dicom_header(tmp_path, kmader):
    popi = shared("ct-volume-popi", "dicom")
    unsuffixed = tmp_path / "IM0001"  # PACS exports often have no suffix
    shutil.copy(sorted(popi.iterdir())[0], unsuffixed)
    (tmp_path / "notes").write_text("not an image")
    assert file_kind(sorted(popi.iterdir())[0]) == "dicom" and file_kind(unsuffixed) == "dicom"
    assert file_kind(sorted((kmader / "images").iterdir())[0]) == "image"
    assert file_kind(tmp_path / "scan.nii.gz") == "volume"
    assert file_kind(kmader / "SOURCE.txt") is None and file_kind(tmp_path / "notes") is None
    assert holds_dicom(popi) and holds_dicom(tmp_path) and not holds_dicom(kmader / "images")
