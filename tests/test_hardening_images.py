"""Damaged 2D images, masks and data folders made from real kmader and Montgomery files: predict,
evaluate, train and data check refuse them by name or read them by the documented rules."""

from __future__ import annotations

import json
import shutil
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import shared
from damage import error_line, run

pytestmark = pytest.mark.slow  # one CLI subprocess per case; `make test-fast` skips them

SLICE = "ID_0000_Z_0142.tif"


def _hu(kmader) -> np.ndarray:
    return tifffile.imread(kmader / "images" / SLICE)


def _png_claiming(path, width: int, height: int):
    """A PNG whose header claims ``width`` x ``height`` pixels (with almost no data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def _predict(tmp_path, source, *extra):
    out = tmp_path / "out" / "mask.png"
    return run("predict", source, out, *extra, guard=(source,)), out


# --- predict on 2D files -------------------------------------------------------------------------


def test_png_header_claiming_ten_billion_pixels(tmp_path):
    result, out = _predict(tmp_path, _png_claiming(tmp_path / "huge.png", 100_000, 100_000))
    error_line(result, 2, "huge.png", "header claims")
    assert not out.exists()


def test_tiff_claiming_a_huge_page(tmp_path, kmader):
    victim = tmp_path / "huge.tif"
    with tifffile.TiffWriter(victim) as writer:  # a real header for 20000 x 20000, data never written out
        writer.write(shape=(20000, 20000), dtype=np.int16)
    result, _ = _predict(tmp_path, victim)
    error_line(result, 2, "huge.tif", "header claims")


@pytest.mark.parametrize("cut", [0, 100, 3000, 200_000])
def test_truncated_tiff(tmp_path, kmader, cut):
    victim = tmp_path / "cut.tif"
    victim.write_bytes((kmader / "images" / SLICE).read_bytes()[:cut])
    result, _ = _predict(tmp_path, victim)
    error_line(result, 2, "cut.tif")


def test_truncated_jpeg_xray(tmp_path):
    victim = tmp_path / "film.jpg"
    victim.write_bytes(shared("xray-lung-montgomery", "images", "1.jpg").read_bytes()[:4000])
    result, _ = _predict(tmp_path, victim)
    error_line(result, 2, "film.jpg")


def test_float_tiff_with_a_nan_patch_is_segmented(tmp_path, kmader):
    clean = tmp_path / "clean.tif"
    tifffile.imwrite(clean, _hu(kmader).astype(np.float32))
    image = _hu(kmader).astype(np.float32)
    image[:40, :40] = np.nan
    victim = tmp_path / "patch.tif"
    tifffile.imwrite(victim, image)
    result, out = _predict(tmp_path, victim)
    assert result.returncode == 0, result.stderr
    assert "1600 NaN/infinite value(s)" in result.stderr
    reference, reference_out = _predict(tmp_path / "ref", clean)
    assert reference.returncode == 0, reference.stderr
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(reference_out)))


def test_all_nan_tiff_is_refused(tmp_path, kmader):
    victim = tmp_path / "nan.tif"
    tifffile.imwrite(victim, np.full(_hu(kmader).shape, np.nan, np.float32))
    result, _ = _predict(tmp_path, victim)
    error_line(result, 2, "nan.tif", "NaN or infinite")


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--smooth", "-1", "--smooth"),
        ("--threshold", "1.5", "threshold"),
        ("--batch-size", "0", "--batch-size"),
        ("--format", "jpeg", "--format"),
        ("--backend", "tensorrt", "backend"),
        ("--model", "no-such-model", "no-such-model"),
    ],
)
def test_bad_option_values_are_one_line_errors(tmp_path, kmader, option, value, fragment):
    result, out = _predict(tmp_path, kmader / "images" / SLICE, option, value)
    error_line(result, 2, fragment)
    assert not out.exists()


# --- evaluate: masks of every kind ---------------------------------------------------------------


@pytest.fixture()
def pairs(tmp_path, kmader):
    """``count`` real kmader pairs with their masks re-encoded by ``encode(mask bool) -> (array, suffix)``."""

    def make(encode, count: int = 3):
        root = tmp_path / "pairs"
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir()
        for name in sorted(p.name for p in (kmader / "images").iterdir())[:count]:
            shutil.copy(kmader / "images" / name, root / "images" / name)
            truth = np.asarray(Image.open(kmader / "masks" / name)) > 0
            array, suffix = encode(truth)
            target = root / "masks" / (name[:-4] + suffix)
            np.save(target, array) if suffix == ".npy" else Image.fromarray(array).save(target)
        return root

    return make


def _evaluate(tmp_path, root, *extra):
    out = tmp_path / "eval"
    result = run(
        "evaluate",
        "--model",
        "ct-lung",
        "--images",
        root / "images",
        "--masks",
        root / "masks",
        "--out",
        out,
        *extra,
        guard=(root,),
    )
    metrics = json.loads((out / "metrics.json").read_text()) if result.returncode == 0 else None
    return result, metrics


def _label_map(truth: np.ndarray) -> np.ndarray:
    labels = truth.astype(np.uint8)
    labels[:, truth.shape[1] // 2 :] *= 2  # 1 right lung (image left), 2 left lung, as lungseg writes them
    return labels


def test_label_masks_count_every_label_as_lung(tmp_path, pairs):
    result, metrics = _evaluate(tmp_path, pairs(lambda t: (_label_map(t), ".png")))
    assert result.returncode == 0, result.stderr
    assert metrics["dice"]["mean"] > 0.95


def test_mask_labels_option_scores_one_label(tmp_path, pairs):
    result, metrics = _evaluate(tmp_path, pairs(lambda t: (_label_map(t), ".png")), "--mask-labels", "2")
    assert result.returncode == 0, result.stderr
    assert 0.3 < metrics["dice"]["mean"] < 0.8 and metrics["mask_labels"] == [2]


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: ((t * 100).astype(np.uint8), ".png"),  # percent soft mask
        lambda t: (t.astype(np.float32) * 0.9 + 0.05, ".npy"),  # probabilities
        lambda t: ((t * 65535).astype(np.uint16), ".png"),  # 16-bit 0/65535
    ],
)
def test_soft_and_16_bit_masks(tmp_path, pairs, encode):
    result, metrics = _evaluate(tmp_path, pairs(encode))
    assert result.returncode == 0, result.stderr
    assert metrics["dice"]["mean"] > 0.95


@pytest.mark.parametrize(
    "encode, fragment",
    [
        (lambda t: (np.where(t, np.nan, 0).astype(np.float32), ".npy"), "NaN/inf"),
        (lambda t: (t.astype(np.int16) - 1, ".npy"), "negative"),
    ],
)
def test_masks_with_nan_or_negative_values_are_refused(tmp_path, pairs, encode, fragment):
    result, _ = _evaluate(tmp_path, pairs(encode))
    error_line(result, 2, "masks/", fragment)


def test_bad_mask_labels_value(tmp_path, pairs):
    result, _ = _evaluate(tmp_path, pairs(lambda t: (_label_map(t), ".png")), "--mask-labels", "left")
    error_line(result, 2, "--mask-labels")


def test_image_with_nan_pixels_is_refused_for_scoring(tmp_path, pairs, kmader):
    root = pairs(lambda t: ((t * 255).astype(np.uint8), ".png"))
    image = sorted((root / "images").iterdir())[1]
    array = tifffile.imread(image).astype(np.float32)
    array[100:110, 100:110] = np.nan
    tifffile.imwrite(image, array)
    result, _ = _evaluate(tmp_path, root)
    error_line(result, 2, image.name, "100 NaN/infinite pixel(s)")


def test_mask_of_another_size(tmp_path, pairs):
    root = pairs(lambda t: ((t[::2, ::2] * 255).astype(np.uint8), ".png"))
    result, _ = _evaluate(tmp_path, root)
    error_line(result, 2, "masks/", "256x256")


# --- train ----------------------------------------------------------------------------------------


def _train(tmp_path, root, *extra):
    out = tmp_path / "run"
    result = run(
        "train",
        "--data",
        root,
        "--out",
        out,
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--model-arg",
        "base_filters=4",
        "--model-arg",
        "depth=2",
        *extra,
        guard=(root,),
    )
    return result, out


def test_train_with_too_few_pairs_for_validation(tmp_path, pairs):
    result, out = _train(tmp_path, pairs(lambda t: ((t * 255).astype(np.uint8), ".png"), count=2))
    error_line(result, 2, "validation set empty")
    assert not out.exists()


def test_train_with_every_mask_empty(tmp_path, pairs):
    result, out = _train(tmp_path, pairs(lambda t: (np.zeros_like(t, np.uint8), ".png")), "--split", "1/1/0")
    error_line(result, 2, "masks are empty")
    assert not out.exists()


def test_train_reads_label_masks_as_lungs(tmp_path, pairs):
    result, out = _train(tmp_path, pairs(lambda t: (_label_map(t), ".png")), "--split", "2/1/0")
    assert result.returncode == 0, result.stderr
    audit = json.loads((out / "audit.json").read_text())
    assert {image["mask_rule"] for image in audit["images"]} == {"label map 1, 2: every label is foreground"}
    assert not any(image["mask_empty"] for image in audit["images"])


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        ("--epochs", "0", "train.epochs"),
        ("--batch-size", "0", "train.batch_size"),
        ("--max-minutes", "-1", "max_minutes"),
        ("--group-pattern", "(", "not a valid regular expression"),
        ("--loss", "dcie", "'dcie' is not one of"),
        ("--image-size", "30", "divisible by 4"),
        ("--model", "vnet", "unknown model"),
        ("--split", "0/1/1", "split"),
    ],
)
def test_train_refuses_bad_values_before_writing_anything(tmp_path, pairs, option, value, fragment):
    result, out = _train(tmp_path, pairs(lambda t: ((t * 255).astype(np.uint8), ".png")), option, value)
    error_line(result, 2, fragment)
    assert not out.exists()


# --- data check -----------------------------------------------------------------------------------


def _check(root, *extra):
    out = root.parent / "audit.json"
    result = run("data", "check", root, "--out", out, *extra, guard=(root,))
    return result, json.loads(out.read_text()) if out.exists() else None


def test_data_check_reports_an_all_nan_image(pairs):
    root = pairs(lambda t: ((t * 255).astype(np.uint8), ".png"))
    image = sorted((root / "images").iterdir())[0]
    tifffile.imwrite(image, np.full((512, 512), np.nan, np.float32))
    result, audit = _check(root)
    assert result.returncode == 1, result.stderr
    assert any("NaN" in problem["problem"] for problem in audit["problems"])


def test_data_check_names_how_label_masks_are_read(pairs):
    result, audit = _check(pairs(lambda t: (_label_map(t), ".png")))
    assert result.returncode == 0, result.stderr
    assert audit["splits"]["all"]["mask_rules"] == {"label map 1, 2": 3}


def test_data_check_flags_a_set_whose_masks_are_all_empty(pairs):
    result, audit = _check(pairs(lambda t: (np.zeros_like(t, np.uint8), ".png")))
    assert result.returncode == 1 and "all 3 masks are empty" in result.stderr
    assert audit["set_problems"]


def test_data_check_flags_a_split_without_validation(pairs):
    result, audit = _check(pairs(lambda t: ((t * 255).astype(np.uint8), ".png"), count=2), "--split", "70/20/10")
    assert result.returncode == 1 and "validation set empty" in result.stderr


def test_cv_with_more_folds_than_samples(tmp_path, pairs):
    root = pairs(lambda t: ((t * 255).astype(np.uint8), ".png"))
    result = run("cv", "--data", root, "--out", tmp_path / "cv", "--folds", "5", guard=(root,))
    error_line(result, 2, "5 folds need at least 5 samples")
    assert not (tmp_path / "cv").exists()
