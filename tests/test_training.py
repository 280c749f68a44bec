import csv
import shutil

import pytest
import torch

from conftest import run_cli, tiny_config
from lungseg.config import RunConfig, load_config
from lungseg.data import Split
from lungseg.errors import InputError
from lungseg.models import load_checkpoint
from lungseg.training import HISTORY_COLUMNS, train_run


def test_run_folder_holds_everything(small_run):
    for name in ("config.yaml", "split.json", "history.csv", "batch_losses.csv", "best.pt", "last.pt"):
        assert (small_run / name).is_file(), name
    rows = list(csv.DictReader((small_run / "history.csv").open()))
    assert len(rows) == 3 and tuple(rows[0]) == HISTORY_COLUMNS
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    best = load_checkpoint(small_run / "best.pt").card
    assert best.spec.to_dict() == {
        "name": "unet",
        "kwargs": {
            "in_channels": 1,
            "out_channels": 1,
            "base_filters": 8,
            "depth": 3,
            "batch_norm": True,
            "dropout": 0.1,
            "upsampling": "transpose",
            "residual": False,
            "se": False,
            "bottleneck": "plain",
            "attention": False,
        },
    }
    assert best.plan.intensity == "hu" and best.plan.image_size == 64 and best.class_names == ("lung",)
    assert best.provenance.lungseg_version and best.metrics["epoch"] == best.provenance.epoch
    assert Split.load(small_run / "split.json") == best.split
    config = load_config(small_run / "config.yaml")
    assert config.to_dict() == best.provenance.config and config.train.epochs == 3
    assert load_checkpoint(small_run / "last.pt").training_state is not None
    assert load_checkpoint(small_run / "best.pt").training_state is None


def test_existing_run_is_not_overwritten(small_run):
    before = (small_run / "best.pt").read_bytes()
    config = RunConfig.from_dict(load_checkpoint(small_run / "last.pt").card.provenance.config)
    with pytest.raises(InputError, match="already holds a run; use --resume"):
        train_run(config, small_run, log=lambda line: None)
    assert (small_run / "best.pt").read_bytes() == before


def test_resume_matches_an_uninterrupted_run(tmp_path, kmader_subset):
    """Copy the run folder as it stands after epoch 2 (what a crash then leaves), resume it, and get
    the same weights and history as the run that was never interrupted."""
    config = tiny_config(kmader_subset, epochs=3)
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"

    def snapshot_after_epoch_2(line):
        if line.startswith("epoch   2"):
            shutil.copytree(straight, interrupted)

    train_run(config, straight, log=snapshot_after_epoch_2)
    assert len(load_checkpoint(interrupted / "last.pt").training_state["history"]) == 2
    result = train_run(None, interrupted, resume=True, log=lambda line: None)
    assert result.epochs_run == 3
    done = load_checkpoint(straight / "last.pt")
    resumed = load_checkpoint(interrupted / "last.pt")
    for key, value in done.state_dict.items():
        assert torch.allclose(value.float(), resumed.state_dict[key].float(), atol=1e-5), key
    for a, b in zip(done.training_state["history"], resumed.training_state["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["lr"] == b["lr"]


@pytest.mark.slow
def test_training_learns_lungs_on_real_ct(tmp_path, kmader):
    """A small fast model on all kmader training slices must really segment the held-out test slices."""
    from lungseg.inference import Predictor, evaluate_pairs, select_pairs

    config = RunConfig()
    config.data.data = str(kmader)
    config.preprocess.image_size = 128
    config.model.kwargs = {"base_filters": 8, "depth": 4}
    config.train.epochs = 12
    train_run(config, tmp_path / "run", log=lambda line: None)
    predictor = Predictor.load(tmp_path / "run" / "best.pt")
    pairs = select_pairs(predictor.card, kmader, None, None, "test")
    summary = evaluate_pairs(predictor, pairs, tmp_path / "eval", log=lambda line: None)
    assert summary["n"] == 20
    assert summary["dice"]["mean"] > 0.93, summary["dice"]


def test_copy_of_run_resumes_in_new_place(tmp_path, small_run):
    copy = tmp_path / "copy"
    shutil.copytree(small_run, copy)
    result = train_run(None, copy, resume=True, epochs=4, log=lambda line: None)
    assert result.epochs_run == 4
    assert len(load_checkpoint(copy / "last.pt").training_state["history"]) == 4


def test_same_seed_same_weights(tmp_path, kmader_subset):
    config = tiny_config(kmader_subset, epochs=1)
    for name in ("a", "b"):
        train_run(config, tmp_path / name, log=lambda line: None)
    config.train.seed = 1
    train_run(config, tmp_path / "c", log=lambda line: None)
    a, b, c = (load_checkpoint(tmp_path / name / "last.pt").state_dict for name in "abc")
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a[key], c[key]) for key in a)


def test_sgd_with_plateau_schedule_trains_and_lowers_the_rate(tmp_path, kmader_subset):
    """SGD with momentum and ReduceLROnPlateau (patience 0, factor 0.5) on real slices."""
    config = tiny_config(kmader_subset, epochs=4)
    config.optim.optimizer, config.optim.scheduler = "sgd", "plateau"
    config.optim.lr, config.optim.plateau_patience, config.optim.min_lr = 0.05, 0, 1e-4
    result = train_run(config, tmp_path / "run", log=lambda line: None)
    assert result.epochs_run == 4
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    rates = [float(row["lr"]) for row in rows]
    losses = [float(row["val_loss"]) for row in rows]
    assert rates[0] == pytest.approx(0.05)
    for epoch in range(1, 4):  # patience 0: every epoch that does not improve on the best halves the rate
        improved = losses[epoch - 1] < min(losses[: epoch - 1], default=float("inf"))
        assert rates[epoch] == pytest.approx(rates[epoch - 1] * (1.0 if improved else 0.5)), (rates, losses)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["training_state"]  # the on-disk layout
    assert any("momentum_buffer" in entry for entry in state["optimizer"]["state"].values())


def test_adamw_is_reached_through_set_without_a_cli_option(tmp_path, kmader_subset):
    """A new enumerated value (optim.optimizer=adamw) works from the command line with no CLI edit, and a
    misspelt one is refused before the run folder is created."""
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "--data",
        kmader_subset,
        "--out",
        out,
        "--epochs",
        "2",
        "--image-size",
        "32",
        "--model-arg",
        "base_filters=4",
        "--model-arg",
        "depth=2",
        "--set",
        "optim.optimizer=adamw",
        "--set",
        "optim.weight_decay=0.01",
    )
    assert result.returncode == 0, result.stderr
    state = torch.load(out / "last.pt", weights_only=True)["training_state"]
    assert state["optimizer"]["param_groups"][0]["weight_decay"] == 0.01
    assert any("exp_avg" in entry for entry in state["optimizer"]["state"].values())
    bad = run_cli("train", "--data", kmader_subset, "--out", tmp_path / "bad", "--set", "optim.optimizer=adamv")
    assert bad.returncode == 2 and "adam, adamw, sgd" in bad.stderr and not (tmp_path / "bad").exists()
