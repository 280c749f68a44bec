"""The remaining input-check faults of issue 24, each made from real shared data: a CT slice saved as a
16-bit PNG with a stored HU offset, RGB DICOM, a RescaleSlope that compresses HU, a report over foreign or
broken tables, and binary training from masks of several label values."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian

from conftest import run_cli, shared
from lungseg.data import MaskRule, load_pair, several_labels_warning
from lungseg.data.pairs import Pair
from lungseg.inference.core.study import load_study
from lungseg.io import read_dicom_series, read_mask
from lungseg.preprocessing import stored_hu_offset

KMADER_SLICE = "ID_0133_Z_0070.tif"


def _error_line(result, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(autouse=True)
def _lenient_pydicom(monkeypatch):
    """POPI's malformed private tag needs pydicom's lenient mode to be read and written again."""
    monkeypatch.setattr(pydicom.config, "convert_wrong_length_to_UN", True)


def _read_popi(path):
    return pydicom.dcmread(path)


# 1. A CT slice saved as a 16-bit PNG with a stored HU offset


def _offset_png(tmp_path, offset: int):
    hu = tifffile.imread(shared("ct-lung-kmader", "images", KMADER_SLICE)).astype(np.int32)
    path = tmp_path / f"ct-plus-{offset}.png"
    Image.fromarray(np.clip(hu + offset, 0, 65535).astype(np.uint16)).save(path)
    return path, hu


def test_ct_png_with_1024_offset_is_converted_and_segmented_as_ct(tmp_path):
    png, hu = _offset_png(tmp_path, 1024)
    assert stored_hu_offset(np.asarray(Image.open(png))) == 1024
    done = run_cli("predict", png, tmp_path / "o.png", "--model", "auto")
    assert done.returncode == 0, done.stderr
    # before: "model xray-lung (uint16 pixel values up to 2167 with no air in Hounsfield units: radiograph data)"
    said = done.stdout + done.stderr
    assert "model ct-lung (pixel values in Hounsfield units)" in said, said
    assert "xray-lung" not in said
    assert "are CT stored with the common +1024 offset" in said
    assert "1024 was subtracted to get Hounsfield units" in said
    # the same lungs as the int16 TIFF of the same HU (the PNG cannot hold the padding below -1024 HU)
    original = tmp_path / "original.tif"
    tifffile.imwrite(original, np.clip(hu, -1024, None).astype(np.int16))
    assert run_cli("predict", original, tmp_path / "t.png", "--model", "ct-lung").returncode == 0
    assert np.array_equal(read_mask(tmp_path / "o.png"), read_mask(tmp_path / "t.png"))


def test_ct_png_with_32768_offset_is_recognised(tmp_path):
    png, _ = _offset_png(tmp_path, 32768)
    study = load_study(png)
    assert [finding.code for finding in study.findings] == ["hu-offset"]
    assert "+32768 offset" in study.findings[0].message
    assert float(np.min(study.image)) < -1000 and float(np.max(study.image)) < 2000


def test_16bit_chest_films_are_not_taken_for_offset_ct():
    """The offset rule leaves radiographs alone: the 138 Montgomery films stored as 12-bit (x16) or
    16-bit (x257) values are not CT with an offset."""
    films = sorted(shared("xray-lung-montgomery-138", "images").iterdir())
    for path in films[::4]:
        film = np.asarray(Image.open(path).convert("L"), dtype=np.uint16)
        assert stored_hu_offset(film * 16) is None, path.name
        assert stored_hu_offset(film * 257) is None, path.name
    kmader = sorted(shared("ct-lung-kmader", "images").iterdir())
    for path in kmader[::10]:
        hu = tifffile.imread(path).astype(np.int32)
        assert stored_hu_offset(np.clip(hu + 1024, 0, 65535).astype(np.uint16)) == 1024, path.name


def test_offset_volume_is_refused_naming_the_offset(tmp_path):
    image = read_dicom_series(shared("ct-volume-popi", "dicom")).image
    raw = sitk.Cast(sitk.Clamp(sitk.Cast(image, sitk.sitkInt32) + 1024, lowerBound=0), sitk.sitkUInt16)
    path = tmp_path / "stored.nii.gz"
    sitk.WriteImage(raw, str(path))
    _error_line(
        run_cli("predict", path, tmp_path / "o.nii.gz"),
        "stored.nii.gz",
        "not CT in Hounsfield units",
        "+1024 offset",
        "subtract 1024",
    )


# 2. RGB DICOM, one file or a series


def _rgb_dicom(source, target):
    dataset = _read_popi(source)
    hu = dataset.pixel_array.astype(np.float32) * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    gray = np.clip((hu + 1000) / 1400 * 255, 0, 255).astype(np.uint8)
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation, dataset.PlanarConfiguration = 3, "RGB", 0
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    dataset.PixelData = np.stack([gray] * 3, axis=-1).tobytes()
    for tag in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
        if tag in dataset:
            delattr(dataset, tag)
    dataset.save_as(target)


@pytest.mark.parametrize("model", ["auto", "ct-lung"])
def test_rgb_dicom_file_and_series_are_refused_as_rgb(tmp_path, model):
    sources = sorted(shared("ct-volume-popi", "dicom").iterdir())[30:34]
    series = tmp_path / "rgb-series"
    series.mkdir()
    for number, source in enumerate(sources):
        _rgb_dicom(source, series / f"slice{number}.dcm")
    single = tmp_path / "rgb.dcm"
    shutil.copy(series / "slice0.dcm", single)
    for path, out in ((single, "o.png"), (series, "o.nii.gz")):
        line = _error_line(
            run_cli("predict", path, tmp_path / out, "--model", model),
            "DICOM pixels are RGB colour (3 samples per pixel)",
            "not the one gray channel of CT",
        )
        assert "frames" not in line and "rank" not in line.lower(), line


# 3. A RescaleSlope that compresses HU


def _rescaled_popi(tmp_path, slope: float, intercept: float | None, files: slice):
    folder = tmp_path / "popi-rescaled"
    folder.mkdir()
    for source in sorted(shared("ct-volume-popi", "dicom").iterdir())[files]:
        dataset = _read_popi(source)
        dataset.RescaleSlope = slope
        if intercept is not None:
            dataset.RescaleIntercept = intercept
        dataset.save_as(folder / source.name)
    return folder


def test_compressing_slope_on_a_series_is_named_as_an_hu_scale_problem(tmp_path):
    """Slope 0.1, intercept -102.4: air at about -100 HU (before: "no values below -500 ... not CT")."""
    folder = _rescaled_popi(tmp_path, 0.1, -102.4, slice(None))
    line = _error_line(
        run_cli("predict", folder, tmp_path / "o.nii.gz"),
        "popi-rescaled",
        "pixel values span only -102.4..",
        "Hounsfield scale is compressed",
        "RescaleSlope/RescaleIntercept are wrong",
    )
    assert "no lung" not in line


def test_compressing_slope_on_one_slice_is_not_no_lung_found(tmp_path):
    """Slope 0.1 with POPI's own intercept -1024: everything between -1024 and about -810 HU (before:
    "no lung found: the image does not seem to show the chest")."""
    folder = _rescaled_popi(tmp_path, 0.1, None, slice(35, 36))
    (slice_file,) = folder.iterdir()
    line = _error_line(
        run_cli("predict", slice_file, tmp_path / "o.png", "--model", "auto"),
        "pixel values span only -1024..",
        "Hounsfield scale is compressed",
    )
    assert "no lung" not in line


def test_compressed_scale_in_a_2d_tiff_through_auto_is_named_not_routed_as_a_film(tmp_path):
    """A kmader HU slice saved as a float TIFF with the slope 0.1 baked in (air near -100): negative values are
    never radiograph data, so auto sends it to the CT model, whose check names the HU scale."""
    hu = np.asarray(tifffile.imread(shared("ct-lung-kmader", "images", "ID_0022_Z_0131.tif")), np.float32)
    tifffile.imwrite(tmp_path / "compressed.tif", hu / 10.0)
    line = _error_line(
        run_cli("predict", tmp_path / "compressed.tif", tmp_path / "o.png", "--model", "auto"),
        "compressed.tif",
        "Hounsfield scale is compressed",
    )
    assert "radiograph" not in line and "xray" not in line


def test_popi_with_its_own_slope_still_segments(tmp_path):
    source = sorted(shared("ct-volume-popi", "dicom").iterdir())[35]
    done = run_cli("predict", source, tmp_path / "o.png")
    assert done.returncode == 0, done.stderr
    assert "Hounsfield scale" not in done.stdout + done.stderr


# 4. lungseg report over foreign or broken tables


@pytest.fixture()
def run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = "epoch,train_loss,val_loss,val_dice,lr\n1,0.5,0.4,0.8,0.001\n2,0.4,0.3,0.85,0.001\n"
    (run / "history.csv").write_text(rows)
    return run


def test_report_over_history_with_foreign_columns_names_the_file(tmp_path, run_folder):
    history = run_folder / "history.csv"
    # a column the report draws holding another tool's text (before: "could not convert string to float: 'abc'")
    history.write_text("epoch,train_loss,val_loss,val_dice,lr,note\n1,0.5,0.4,abc,0.001,hello\n")
    _error_line(
        run_cli("report", run_folder, "--out", tmp_path / "r1"),
        "history.csv",
        "line 2: column val_dice is not a number ('abc')",
    )
    # rows with more or fewer fields than the header (before: the page was written from the damaged rows)
    history.write_text("epoch,train_loss,val_dice\n1,0.5\n2,0.4,0.3,9\n")
    _error_line(
        run_cli("report", run_folder, "--out", tmp_path / "r2"),
        "history.csv",
        "line 2 has 2 field(s) but the header names 3",
    )
    # another tool's own extra columns are left alone
    history.write_text("epoch,train_loss,wall_clock,gpu\n1,0.5,12:00,A100\n2,0.4,12:05,A100\n")
    done = run_cli("report", run_folder, "--out", tmp_path / "r3")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r3" / "index.html").is_file()
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


@pytest.mark.parametrize(
    ("metrics", "samples", "fragments"),
    [
        ("{not json", "name,dice\na,0.9\n", ("metrics.json", "is not JSON")),
        (b"\xff\xfe\x00binary", "name,dice\na,0.9\n", ("metrics.json", "is not JSON")),
        (  # before: "internal error (TypeError: string indices must be integers, not 'str')"
            '{"n": 1, "dice": "x"}',
            "name,dice\na,0.9\n",
            ("metrics.json", "'dice' is 'x', not an object with mean, std, median"),
        ),
        ('{"n": 1}', "name,dice\na,0.9\n", ("metrics.json", "'n_empty_gt' is missing")),
        (  # before: "could not convert string to float: 'zz'"
            '{"n": 1}',
            "name,dice,iou\na,zz,0.9\n",
            ("per_sample.csv", "line 2: column dice is not a number ('zz')"),
        ),
    ],
)
def test_report_over_broken_evaluation_names_the_file(tmp_path, run_folder, metrics, samples, fragments):
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    path = evaluation / "metrics.json"
    path.write_bytes(metrics) if isinstance(metrics, bytes) else path.write_text(metrics)
    (evaluation / "per_sample.csv").write_text(samples)
    _error_line(run_cli("report", run_folder, "--eval", evaluation, "--out", tmp_path / "r"), *fragments)
    assert not (tmp_path / "r").exists()


# 5. Binary training from masks with several label values


@pytest.fixture()
def label_masks(tmp_path):
    """Real kmader pairs whose masks are saved as label maps: 1 in the image's left half, 2 in its right."""
    kmader = shared("ct-lung-kmader")
    names = sorted(path.name for path in (kmader / "images").iterdir())[:6]
    root = tmp_path / "labels"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name in names:
        shutil.copy(kmader / "images" / name, root / "images" / name)
        lungs = read_mask(kmader / "masks" / name)
        labels = np.zeros(lungs.shape, np.uint8)
        half = lungs.shape[1] // 2
        labels[:, :half][lungs[:, :half]] = 1
        labels[:, half:][lungs[:, half:]] = 2
        Image.fromarray(labels).save(root / "masks" / (name[:-4] + ".png"))
    return root


def test_label_masks_into_a_binary_target_are_named(label_masks):
    masks = sorted((label_masks / "masks").iterdir())
    images = sorted((label_masks / "images").iterdir())
    loaded = [load_pair(Pair(i.stem, i, m), MaskRule()) for i, m in zip(images, masks, strict=True)]
    warning = several_labels_warning(loaded)
    assert warning is not None
    assert f"{masks[0]} holds label values 1, 2" in warning
    assert "6 of 6 masks hold several label values" in warning
    assert "--mask-labels (config data.mask_labels)" in warning and "data.mask_mapping" in warning
    chosen = [load_pair(Pair(i.stem, i, m), MaskRule(labels=[1])) for i, m in zip(images, masks, strict=True)]
    assert several_labels_warning(chosen) is None  # the labels were chosen: nothing to say
    kmader = shared("ct-lung-kmader")
    plain = load_pair(Pair("k", kmader / "images" / images[0].name, kmader / "masks" / images[0].name))
    assert several_labels_warning([plain]) is None  # 0/255 masks are binary


def test_training_warns_before_it_starts(tmp_path, label_masks, monkeypatch):
    """``train`` logs the warning once its inputs are read (stopped there: nothing is trained)."""
    import lungseg.training.run as run_module
    from conftest import tiny_config

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(run_module, "_fit_setup", stop)
    lines: list[str] = []
    config = tiny_config(label_masks, 1)
    config.data.split = "2:1"
    with pytest.raises(Stop):
        run_module.train_run(config, tmp_path / "run", log=lines.append)
    warnings = [line for line in lines if "several label values" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and "holds label values 1, 2" in warnings[0]
