"""``lungseg data check`` and the leak check of ``lungseg train``, on real shared slices."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli, shared, tiny_config
from lungseg.data.audit import NEAR_DISTANCE
from lungseg.data.layout import audit_folder
from lungseg.errors import InputError
from lungseg.io import read_image
from lungseg.preprocessing import apply_window
from lungseg.training import train_run


def _windowed_8bit(path) -> Image.Image:
    """A HU slice as a radiologist's export: lung window, 8-bit."""
    return Image.fromarray((apply_window(read_image(path), -600, 1500) * 255).round().astype(np.uint8))


@pytest.fixture()
def leaky_splits(tmp_path, kmader):
    """DIR/train and DIR/test (images + masks) of distinct real slices, plus three train slices placed in
    test again: a byte-identical copy, a PNG export and a JPEG export (quality 85) under new names."""
    names = sorted(p.name for p in (kmader / "images").iterdir())
    train, test = names[:8], names[100:104]
    for split, chosen in (("train", train), ("test", test)):
        for sub in ("images", "masks"):
            (tmp_path / split / sub).mkdir(parents=True)
            for name in chosen:
                shutil.copy(kmader / sub / name, tmp_path / split / sub / name)
    images, masks = tmp_path / "test" / "images", tmp_path / "test" / "masks"
    shutil.copy(kmader / "images" / train[0], images / "copy.tif")
    shutil.copy(kmader / "masks" / train[0], masks / "copy.tif")
    _windowed_8bit(kmader / "images" / train[1]).save(images / "export.png")
    _windowed_8bit(kmader / "images" / train[2]).save(images / "export_jpeg.jpg", quality=85)
    for name, source in (("export.png", train[1]), ("export_jpeg.png", train[2])):
        shutil.copy(kmader / "masks" / source, masks / name.replace(".png", ".tif"))
    return tmp_path, train


def test_data_check_finds_identical_and_reencoded_leaks(leaky_splits, tmp_path_factory):
    folder, train = leaky_splits
    out = tmp_path_factory.mktemp("audit") / "audit.json"
    result = run_cli("data", "check", folder, "--out", out)
    assert result.returncode == 1, result.stderr
    report = json.loads(out.read_text())
    leaks = {(leak["first"].split("/")[-1], leak["second"].split("/")[-1]): leak for leak in report["leaks"]}
    assert set(leaks) == {("copy.tif", train[0]), ("export.png", train[1]), ("export_jpeg.jpg", train[2])}
    assert leaks[("copy.tif", train[0])]["kind"] == "identical"
    assert leaks[("export.png", train[1])]["kind"] == "near-identical"
    assert leaks[("export_jpeg.jpg", train[2])]["distance"] <= NEAR_DISTANCE
    assert report["splits"]["train"]["hu"] == 8 and report["splits"]["test"]["8bit"] == 2
    assert "3 leak(s) across splits" in result.stderr


def test_distinct_kmader_slices_are_not_flagged(kmader):
    """Calibration: the 267 real slices of ct-lung-kmader, split as train would, hold no near-duplicates
    at the threshold, so the shipped model's own training run is not refused."""
    report = audit_folder(kmader, split="70/20/10")
    assert len(report.records) == len(list((kmader / "images").iterdir()))
    assert report.leaks == [] and report.problems == []


def test_problems_are_reported(tmp_path, kmader):
    names = sorted(p.name for p in (kmader / "images").iterdir())[:4]
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for name in names[:3]:
        shutil.copy(kmader / "images" / name, tmp_path / "images" / name)
    shutil.copy(kmader / "masks" / names[0], tmp_path / "masks" / names[0])
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(tmp_path / "masks" / names[1].replace(".tif", ".png"))
    (tmp_path / "images" / "broken.tif").write_bytes(b"II*\x00garbage")
    (tmp_path / "images" / "notes.doc").write_text("x")
    shutil.copy(kmader / "images" / names[3], tmp_path / "images" / "blank.tif")
    Image.fromarray(np.zeros(read_image(kmader / "images" / names[3]).shape, np.uint8)).save(
        tmp_path / "masks" / "blank.png"
    )
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "images" / "black.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "masks" / "black_mask.png")
    report = audit_folder(tmp_path)
    problems = {record.path.split("/")[-1]: record.problem for record in report.problems}
    assert problems["black.png"] == "blank image (every pixel is 0)"
    assert problems[names[1]].startswith("size mismatch: mask")
    assert problems[names[2]].startswith("no mask")
    assert problems["broken.tif"].startswith("unreadable image")
    assert problems["notes.doc"].startswith("not a supported image file")
    assert report.split_summary()["all"]["empty_masks"] == 1 and report.duplicates == []


def test_classification_layout_counts_classes(tmp_path):
    covid = shared("covid-infection")
    images = sorted((covid / "train" / "images").iterdir())[:6]
    for index, path in enumerate(images):
        split, label = ("train", "covid") if index < 4 else ("test", "normal")
        (tmp_path / split / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / split / label / f"{index}{path.suffix}")
    report = audit_folder(tmp_path)
    summary = report.split_summary()
    assert summary["train"]["classes"] == {"covid": 4} and summary["test"]["classes"] == {"normal": 2}


def test_train_refuses_a_leaking_split_unless_allowed(tmp_path, kmader_subset):
    data = tmp_path / "data"
    shutil.copytree(kmader_subset, data)
    for sub in ("images", "masks"):
        for path in sorted((data / sub).iterdir()):
            shutil.copy(path, data / sub / f"dup_{path.name}")
    config = tiny_config(data, epochs=1)
    with pytest.raises(InputError, match=r"split leaks: \d+ image\(s\) appear in more than one split .*--allow-leaks"):
        train_run(config, tmp_path / "refused", log=lambda line: None)
    assert not (tmp_path / "refused").exists()  # a refused run writes nothing (`data check` lists the leaks)
    config.data.allow_leaks = True
    lines = []
    train_run(config, tmp_path / "allowed", log=lines.append)
    assert any(line.startswith("warning: split leaks (allowed by --allow-leaks)") for line in lines)
    assert (tmp_path / "allowed" / "last.pt").is_file()
