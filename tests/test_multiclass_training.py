"""K-class (softmax) training on the real COVID-19 infection class maps: the losses, a short run
through train_run, and what the checkpoint records."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli, shared
from lungseg.config import RunConfig
from lungseg.losses import build_loss
from lungseg.models import load_checkpoint
from lungseg.training import train_run

NAMES = ["ground-glass opacity", "consolidation"]


def _target(classes: list[list[int]]) -> torch.Tensor:
    return torch.tensor(classes, dtype=torch.float32)[None, None]


def test_multiclass_losses_follow_the_empty_mask_policy_per_class():
    target = _target([[0, 1], [1, 0]])  # no consolidation anywhere
    perfect = torch.full((1, 3, 2, 2), -20.0)
    perfect[0, 0][target[0, 0] == 0] = 20.0
    perfect[0, 1][target[0, 0] == 1] = 20.0
    for name in ("dice", "bce_dice", "bce_iou", "tversky", "focal", "bce"):
        loss = build_loss(name, 0.5, channels=3)
        assert float(loss(perfect, target)) < 1e-3, name
    wrong = perfect.clone()
    wrong[0, 2, 0, 0], wrong[0, 0, 0, 0] = 30.0, -20.0  # a consolidation pixel where there is none
    assert float(build_loss("dice", channels=3)(wrong, target)) > 0.2
    weighted = build_loss("bce", channels=3, class_weights=[5.0, 1.0, 1.0])  # the wrong pixel is background
    assert float(weighted(wrong, target)) > float(build_loss("bce", channels=3)(wrong, target))
    with pytest.raises(ValueError, match="3 class weights for 3|2 class weights for 3"):
        build_loss("bce", channels=3, class_weights=[1.0, 1.0])(wrong, target)
    with pytest.raises(ValueError, match="classes 0..5"):
        build_loss("bce", channels=3)(wrong, _target([[0, 5], [1, 0]]))


def _config(tmp_path) -> RunConfig:
    root = shared("covid-infection", "train")
    config = RunConfig()
    config.data.images, config.data.masks = str(root / "images"), str(root / "masks_multiclass")
    config.data.split = "80/20/0"
    config.model.class_names = list(NAMES)
    config.model.kwargs = {"base_filters": 8, "depth": 3}
    config.preprocess.image_size = 64
    config.train.epochs, config.train.max_minutes, config.train.batch_size = 3, None, 8
    config.train.class_weights = [0.5, 1.0, 1.0]
    return config


@pytest.mark.slow
def test_a_short_three_class_run_on_real_covid_slices(tmp_path):
    run = tmp_path / "run"
    result = train_run(_config(tmp_path), run, log=lambda line: None)
    assert result.epochs_run == 3
    rows = list(csv.DictReader((run / "history.csv").open()))
    dice = [float(row["val_dice"]) for row in rows]
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in dice)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    card = load_checkpoint(run / "best.pt").card
    assert card.class_names == tuple(NAMES) and card.spec.kwargs["out_channels"] == 3
    weights = load_checkpoint(run / "best.pt").state_dict
    assert next(v for k, v in weights.items() if k.endswith("weight") and v.ndim == 4 and v.shape[0] == 3) is not None
    root = shared("covid-infection", "train")
    scored = run_cli(
        "evaluate",
        "--model",
        run / "best.pt",
        "--images",
        root / "images",
        "--masks",
        root / "masks_multiclass",
        "--split",
        "val",
        "--out",
        tmp_path / "eval",
        "--backend",
        "torch",
    )
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert list(metrics["classes"]) == NAMES and metrics["n"] == len(card.split.val)
    for name in NAMES:
        section = metrics["classes"][name]
        assert section["n"] == metrics["n"] and 0 <= section["dice"]["mean"] <= 1
    assert metrics["mean_foreground"]["dice"] == pytest.approx(
        sum(metrics["classes"][n]["dice"]["mean"] for n in NAMES) / 2
    )
    rows = list(csv.DictReader((tmp_path / "eval" / "per_sample.csv").open()))
    assert len(rows) == 2 * metrics["n"] and {row["class"] for row in rows} == set(NAMES)
    predicted = Image.open(rows[0]["prediction"])
    assert predicted.mode == "P" and set(np.unique(np.asarray(predicted))) <= {0, 1, 2}
    report = run_cli("report", run, "--eval", tmp_path / "eval", "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Evaluation (per class)" in page and "consolidation" in page and "mean over classes" in page
    assert (tmp_path / "report" / "dice_hist.png").is_file()
    # predict: a K-class model is a lesion model on top of the lungs (ct-lung-8bit for this 8-bit slice)
    predicted = run_cli(
        "predict", root / "images" / "0.jpg", tmp_path / "p.png", "--model", run / "best.pt", "--report"
    )
    assert predicted.returncode == 0, predicted.stderr
    report = json.loads((tmp_path / "p_report.json").read_text())
    assert report["labels"] == {
        "0": "background",
        "1": "right lung",
        "2": "left lung",
        "4": "ground-glass opacity",
        "5": "consolidation",
    }
    assert report["models"] == ["ct-lung-8bit", str(run / "best.pt")]
    assert set(report["lesions"]["classes"]) == {"ground-glass_opacity", "consolidation"}
    assert Image.open(tmp_path / "p.png").mode == "P"


def test_multiclass_config_is_checked_before_any_data_is_read(tmp_path):
    config = _config(tmp_path)
    config.train.class_weights = [1.0, 1.0]
    with pytest.raises(ValueError, match="class_weights needs one non-negative weight per output channel \\(3"):
        train_run(config, tmp_path / "bad", log=lambda line: None)
    config = _config(tmp_path)
    config.model.class_names = ["a", "a"]
    with pytest.raises(ValueError, match="different names"):
        train_run(config, tmp_path / "bad2", log=lambda line: None)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()


@pytest.mark.slow
def test_cross_validation_of_a_three_class_model_reports_each_class(tmp_path):
    """Two folds of the 3-class COVID recipe (tiny and short: this checks the plumbing, not the Dice)."""
    root = shared("covid-infection", "train")
    result = run_cli(
        "cv",
        "--images",
        root / "images",
        "--masks",
        root / "masks_multiclass",
        "--out",
        tmp_path / "cv",
        "--folds",
        "2",
        "--epochs",
        "2",
        "--image-size",
        "64",
        "--model-arg",
        "base_filters=8",
        "--model-arg",
        "depth=3",
        "--set",
        'model.class_names=["ground-glass opacity", "consolidation"]',
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "cv" / "cv_summary.json").read_text())
    assert summary["folds"] == 2 and set(summary["per_class"]) == set(NAMES)
    assert len(summary["per_class"]["consolidation"]["dice"]["folds"]) == 2
    assert "consolidation: dice" in result.stdout
    from lungseg.inference import Predictor

    ensemble = Predictor.load(tmp_path / "cv", backend="torch")
    image = np.asarray(Image.open(root / "images" / "0.jpg"))
    assert ensemble.channels == 3 and set(np.unique(ensemble.classes([image])[0])) <= {0, 1, 2}
