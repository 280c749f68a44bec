"""Training engine: NaN guard, EMA and gradient clipping, kill -9 resume, DDP with torchrun, TensorBoard."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import tiny_config
from lungseg.errors import TrainingDiverged
from lungseg.models import load_checkpoint
from lungseg.training import train_run

FAST = ["--image-size", "64", "--model-arg", "base_filters=8", "--model-arg", "depth=3", "--max-minutes", "30"]


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, kmader_subset, monkeypatch):
    """The loss turns NaN in epoch 2: the run stops with a message naming the epoch and the checkpoint,
    and last.pt/best.pt still hold epoch 1."""
    import lungseg.training.tasks as tasks  # the segmentation task builds the engine's loss

    real_build_loss = tasks.build_loss
    calls = {"train": 0}

    def poisoned(name, alpha, *more):
        loss_fn = real_build_loss(name, alpha, *more)

        def wrapped(logits, target, weight=None):
            loss = loss_fn(logits, target, weight)
            if torch.is_grad_enabled():
                calls["train"] += 1
                if calls["train"] > 5:  # epoch 1 has 4 training batches
                    return loss * float("nan")
            return loss

        return wrapped

    monkeypatch.setattr(tasks, "build_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(
        TrainingDiverged,
        match=r"loss became nan.* in epoch 2; stopped\. The last good checkpoint "
        r"is .*last\.pt \(epoch 1\)",
    ):
        train_run(tiny_config(kmader_subset, epochs=3), out, log=lambda line: None)
    last = load_checkpoint(out / "last.pt")
    assert last.card.provenance.epoch == 1 and len(last.training_state["history"]) == 1
    assert all(torch.isfinite(v.float()).all() for v in last.state_dict.values())
    assert load_checkpoint(out / "best.pt").card.provenance.epoch == 1


def test_ema_weights_are_validated_and_saved_as_best(tmp_path, kmader_subset):
    out = tmp_path / "run"
    train_run(tiny_config(kmader_subset, epochs=2, ema_decay=0.9, grad_clip=1.0), out, log=lambda line: None)
    last, best = load_checkpoint(out / "last.pt"), load_checkpoint(out / "best.pt")
    ema = last.training_state["ema"]
    assert int(ema["n_averaged"]) == sum(1 for row in last.training_state["batch_losses"] if row[1] == "train")
    key = next(k for k in best.state_dict if k.endswith("weight"))
    assert torch.equal(best.state_dict[key], ema[f"module.{key}"])  # EMA weights, not the raw ones
    assert not torch.equal(last.state_dict[key], ema[f"module.{key}"])


def _history(run) -> list[dict]:
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path, kmader_subset):
    args = ["train", "--data", str(kmader_subset), "--epochs", "6", "--ema-decay", "0.9", *FAST]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = subprocess.run(
        [sys.executable, "-m", "lungseg", *args, "--out", str(straight)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    epoch_seconds = min(float(row["seconds"]) for row in _history(straight))  # load on the machine varies
    process = subprocess.Popen(
        [sys.executable, "-m", "lungseg", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not ((killed / "history.csv").exists() and len(_history(killed)) >= 2):
        time.sleep(0.05)
    time.sleep(0.4 * epoch_seconds)  # inside epoch 3 (6 epochs leave room when this machine is busy)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(_history(killed)) < 6, "the run finished before it could be killed"
    resumed = subprocess.run(
        [sys.executable, "-m", "lungseg", "train", "--out", str(killed), "--resume"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(killed / "last.pt")
    for key, value in a.state_dict.items():
        assert torch.allclose(value.float(), b.state_dict[key].float(), atol=1e-5), key
    for key, value in a.training_state["ema"].items():
        assert torch.allclose(value.float(), b.training_state["ema"][key].float(), atol=1e-5), key
    for row_a, row_b in zip(_history(straight), _history(killed), strict=True):
        for column in ("epoch", "train_loss", "val_loss", "val_dice", "lr"):
            assert float(row_a[column]) == pytest.approx(float(row_b[column]), rel=1e-5, abs=1e-7), column


@pytest.mark.slow
def test_torchrun_two_processes_trains_with_ddp(tmp_path, kmader_subset):
    out = tmp_path / "ddp"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "lungseg",
            "train",
            "--data",
            str(kmader_subset),
            "--out",
            str(out),
            "--epochs",
            "3",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logs = done.stdout + done.stderr
    assert "2 processes" in logs
    assert logs.count("epoch   1 ") == 1  # rank 0 logs, rank 1 is quiet
    history = _history(out)
    assert [int(row["epoch"]) for row in history] == [1, 2, 3]
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    checkpoint = load_checkpoint(out / "best.pt")
    assert not any(key.startswith("module.") for key in checkpoint.state_dict)  # plain model, not the wrapper


def test_tensorboard_scalars_and_overlays(tmp_path, kmader_subset):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    train_run(tiny_config(kmader_subset, epochs=2, tensorboard=True), out, log=lambda line: None)
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"loss/train", "loss/val", "val/dice", "lr"} <= set(events.Tags()["scalars"])
    assert [s.step for s in events.Scalars("val/dice")] == [1, 2]
    assert any(tag.startswith("val/examples") for tag in events.Tags()["images"])


def test_resume_of_a_finished_run_does_not_train_more(tmp_path, kmader_subset):
    """A run that stopped early (here at its Dice target) stays stopped on --resume unless --epochs is given."""
    out = tmp_path / "run"
    first = train_run(tiny_config(kmader_subset, epochs=3, target_val_dice=0.0), out, log=lambda line: None)
    assert first.epochs_run == 1 and first.stopped_early
    lines = []
    again = train_run(None, out, resume=True, log=lines.append)
    assert again.epochs_run == 1 and any("run already finished (validation Dice" in line for line in lines)
    more = train_run(None, out, resume=True, epochs=3, log=lambda line: None)
    assert more.epochs_run == 2  # continued for one epoch, then stopped at the target again
