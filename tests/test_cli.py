"""The command line as a user runs it: subprocesses, real shared data, exit codes and one-line errors."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from lungseg.io import read_mask


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.slow
def test_train_evaluate_predict(tmp_path, kmader_subset):
    run = tmp_path / "run"
    result = run_cli(
        "train",
        "--data",
        kmader_subset,
        "--out",
        run,
        "--epochs",
        "2",
        "--image-size",
        "64",
        "--model-arg",
        "base_filters=8",
        "--model-arg",
        "depth=3",
    )
    assert result.returncode == 0, result.stderr
    assert "epoch   2" in result.stderr and (run / "best.pt").is_file()

    report = tmp_path / "report"
    result = run_cli(
        "evaluate", "--model", run / "best.pt", "--data", kmader_subset, "--split", "test", "--out", report
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((report / "metrics.json").read_text())
    for key in ("dice", "iou", "accuracy", "precision", "recall", "specificity", "hd95"):
        assert set(metrics[key]) == {"mean", "median", "std"}, key
    assert metrics["n"] == 2 and metrics["n_empty_gt"] == 0
    header = (report / "per_sample.csv").read_text().splitlines()[0]
    assert header.startswith("name,dice,iou,accuracy,precision,recall,specificity,hd95")

    folder_report = tmp_path / "folder-report"
    result = run_cli(
        "evaluate",
        "--model",
        run / "best.pt",
        "--images",
        kmader_subset / "images",
        "--masks",
        kmader_subset / "masks",
        "--out",
        folder_report,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((folder_report / "metrics.json").read_text())["n"] == 24

    predictions = tmp_path / "pred"
    result = run_cli("predict", kmader_subset / "images", predictions, "--model", run / "best.pt", "--overlay")
    assert result.returncode == 0, result.stderr
    masks = sorted(predictions.glob("*[0-9].png"))
    assert len(masks) == 24 and len(list(predictions.glob("*_overlay.png"))) == 24
    assert read_mask(masks[0]).shape == (512, 512)
    overlay = np.asarray(Image.open(predictions / f"{masks[0].stem}_overlay.png"))
    assert overlay.shape == (512, 512, 3)

    single = tmp_path / "one" / "mask.png"
    image = sorted((kmader_subset / "images").iterdir())[0]
    result = run_cli("predict", image, single, "--model", run / "best.pt")
    assert result.returncode == 0, result.stderr
    assert np.array_equal(read_mask(single), read_mask(predictions / f"{image.stem}.png"))


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict"):
        assert command in result.stdout


@pytest.fixture()
def broken_data(tmp_path, kmader_subset):
    root = tmp_path / "data"
    shutil.copytree(kmader_subset, root)
    return root


@pytest.mark.slow
def test_corrupt_tiff(broken_data, small_run, tmp_path):
    victim = sorted((broken_data / "images").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:2000])
    output = tmp_path / "out.png"
    output.write_bytes(b"previous result")
    result = run_cli("predict", victim, output, "--model", small_run / "best.pt")
    _one_line_error(result, victim.name, "cannot read TIFF")
    assert output.read_bytes() == b"previous result"  # nothing already written is damaged
    result = run_cli("train", "--data", broken_data, "--out", tmp_path / "run", "--epochs", "1")
    _one_line_error(result, victim.name, "cannot read TIFF")


def test_image_without_mask(broken_data, tmp_path):
    victim = sorted((broken_data / "masks").iterdir())[5]
    victim.unlink()
    result = run_cli("train", "--data", broken_data, "--out", tmp_path / "run", "--epochs", "1")
    _one_line_error(result, victim.name, "no mask for this image")
    assert not (tmp_path / "run").exists()


def test_mask_of_different_size(broken_data, small_run, tmp_path):
    victim = sorted((broken_data / "masks").iterdir())[0]
    Image.fromarray(np.zeros((300, 200), np.uint8)).save(victim, format="TIFF")
    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text('{"old": true}')
    result = run_cli(
        "evaluate", "--model", small_run / "best.pt", "--data", broken_data, "--split", "all", "--out", report
    )
    _one_line_error(result, victim.name, "mask is 200x300 but its image")
    assert (report / "metrics.json").read_text() == '{"old": true}'


def test_empty_folder(tmp_path, small_run):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    result = run_cli("train", "--data", tmp_path / "empty", "--out", tmp_path / "run")
    _one_line_error(result, "images", "no image files found")
    (tmp_path / "nothing").mkdir()
    result = run_cli("predict", tmp_path / "nothing", tmp_path / "out", "--model", small_run / "best.pt")
    _one_line_error(result, "nothing", "no image files found")


@pytest.mark.slow
def test_non_image_file(broken_data, small_run, tmp_path):
    (broken_data / "images" / "notes.txt").write_text("radiologist notes")
    result = run_cli("train", "--data", broken_data, "--out", tmp_path / "run")
    _one_line_error(result, "notes.txt", "not a supported image file")
    fake = tmp_path / "fake.png"
    fake.write_text("this is text, not a PNG")
    result = run_cli("predict", fake, tmp_path / "o.png", "--model", small_run / "best.pt")
    _one_line_error(result, "fake.png", "cannot read image")


@pytest.mark.slow
def test_wrong_kind_of_image_and_checkpoint(tmp_path, small_run):
    from conftest import shared

    xray = shared("xray-lung-montgomery", "images", "1.jpg")
    result = run_cli("predict", xray, tmp_path / "o.png", "--model", small_run / "best.pt")
    _one_line_error(result, "1.jpg", "8-bit picture")
    result = run_cli("predict", xray, tmp_path / "o.png", "--model", xray)
    _one_line_error(result, "1.jpg", "not a readable lungseg checkpoint")


@pytest.mark.slow
def test_one_bad_file_does_not_stop_a_folder(broken_data, small_run, tmp_path):
    victim = sorted((broken_data / "images").iterdir())[2]
    victim.write_bytes(b"garbage")
    result = run_cli("predict", broken_data / "images", tmp_path / "pred", "--model", small_run / "best.pt")
    assert result.returncode == 1
    assert victim.name in result.stderr and "wrote 23 of 24 masks" in result.stderr
    assert len(list((tmp_path / "pred").glob("*.png"))) == 23


@pytest.mark.slow
def test_any_setting_through_set(tmp_path, kmader_subset):
    import yaml

    run = tmp_path / "run"
    result = run_cli(
        "train",
        "--data",
        kmader_subset,
        "--out",
        run,
        "--set",
        "train.epochs=1",
        "--set",
        "optim.optimizer=sgd",
        "--set",
        "preprocess.image_size=32",
        "--model-arg",
        "base_filters=4",
        "--model-arg",
        "depth=2",
        "--epochs",
        "2",
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["optim"]["optimizer"] == "sgd" and config["preprocess"]["image_size"] == 32
    assert config["train"]["epochs"] == 2  # a named option wins over --set
    _one_line_error(
        run_cli("train", "--data", kmader_subset, "--out", tmp_path / "x", "--set", "optim.nesterov=true"),
        "unknown key",
        "nesterov",
    )


def test_run_options_keep_explicit_zero_and_off_values(tmp_path):
    from lungseg.cli.train_commands import RUN_OPTIONS, build_config

    path = tmp_path / "config.yaml"
    path.write_text("train: {border_weights: true, seed: 5, tensorboard: true}\n")
    options = {name: default for name, (_, _, default) in RUN_OPTIONS.items()}
    options.update(config=path, seed=0, border_weights=False, mask_labels="1,2", set=["augment.hflip=0"])
    config = build_config(options)
    assert config.train.seed == 0 and config.train.border_weights is False  # given: they win
    assert config.train.tensorboard is True  # --tensorboard not given: the file's value stays
    assert config.data.mask_labels == [1, 2] and config.augment.hflip == 0
