"""Devices and precision: option parsing, the CPU paths of the GPU code (bf16 autocast on the CPU, worker
processes, device-neutral checkpoints, the fp16 NaN guard's rules), and GPU tests marked ``gpu`` that
run where PyTorch sees CUDA (CI has none)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest
import torch

from conftest import run_cli, tiny_config
from lungseg.models import load_checkpoint
from lungseg.models.device import Precision, default_workers, resolve_device, resolve_precision
from lungseg.training import train_run
from lungseg.training.sampling import EpochSampler


def _history(run) -> list[dict]:
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def test_device_and_precision_options_are_parsed_and_refused_with_reasons():
    assert resolve_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    assert resolve_device("CPU") == torch.device("cpu")
    for bad, reason in (("gpu", "must be auto, cpu"), ("cuda:x", "must be auto, cpu"), ("cuda:99", "cuda")):
        with pytest.raises(ValueError, match=reason):
            resolve_device(bad)
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == Precision("fp32", None)
    assert resolve_precision("bf16", cpu).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="--precision must be one of"):
        resolve_precision("int8", cpu)
    assert default_workers(cpu) == 0 and default_workers(torch.device("cuda", 0), cpu_count=16) == 8
    assert default_workers(torch.device("cuda", 0), cpu_count=2) == 1


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_on_a_cpu_machine_is_one_line_error(tmp_path, kmader_subset):
    result = run_cli("train", "--data", kmader_subset, "--out", tmp_path / "run", "--device", "cuda", "--epochs", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--device cuda: no CUDA GPU is visible" in result.stderr
    result = run_cli("predict", kmader_subset / "images", tmp_path / "out", "--device", "cuda:0")
    assert result.returncode == 2 and "no CUDA GPU is visible" in result.stderr


def test_sampler_keys_depend_on_seed_epoch_and_rank_only():
    sampler = EpochSampler(10, seed=3, repeats=2)
    sampler.set_epoch(1)
    first = list(sampler)
    assert list(sampler) == first and len(first) == 20 and sorted(i for i, _ in first) == sorted(list(range(10)) * 2)
    sampler.set_epoch(2)
    assert list(sampler) != first
    shards = [list(EpochSampler(10, 3, 2, rank=r, world_size=3)) for r in range(3)]
    for shard in shards:
        shard_sampler = EpochSampler(10, 3, 2, rank=0, world_size=3)
        assert len(shard) == len(shard_sampler) == 7
    weighted = EpochSampler(4, 0, weights=torch.tensor([0.0, 1.0, 0.0, 0.0]), draws=5)
    assert [i for i, _ in weighted] == [1] * 5


def test_samples_per_epoch_draws_another_subset_each_epoch():
    """train.samples_per_epoch: a fixed number of distinct samples per epoch from a large set (the COVID-19
    pre-training draws 320 of 1,667 slices), a different subset each epoch, more than one pass if asked."""
    sampler = EpochSampler(100, seed=0, draws=30)
    sampler.set_epoch(0)
    first = [i for i, _ in sampler]
    assert len(first) == len(sampler) == 30 and len(set(first)) == 30
    sampler.set_epoch(1)
    assert set(i for i, _ in sampler) != set(first)
    counts = Counter(i for i, _ in EpochSampler(10, seed=0, draws=25))
    assert sum(counts.values()) == 25 and set(counts.values()) <= {2, 3}  # two full passes, then part of a third


def test_bf16_autocast_on_the_cpu_trains_and_records_the_device(tmp_path, kmader_subset):
    """The GPU's mixed-precision code path, run on the CPU: the loss is finite and falls, history.csv says
    cpu/bf16, and the checkpoint holds float32 CPU tensors."""
    out = tmp_path / "bf16"
    config = tiny_config(kmader_subset, epochs=3, precision="bf16", device="cpu")
    train_run(config, out, log=lambda line: None)
    rows = _history(out)
    assert {(row["device"], row["precision"]) for row in rows} == {("cpu", "bf16")}
    losses = [float(row["train_loss"]) for row in rows]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    checkpoint = load_checkpoint(out / "best.pt")
    assert all(v.device.type == "cpu" for v in checkpoint.state_dict.values())
    assert all(v.dtype != torch.bfloat16 for v in checkpoint.state_dict.values())


def test_worker_processes_do_not_change_the_run(tmp_path, kmader_subset):
    """Each sample's augmentation is seeded by the sampler, so 2 worker processes (persistent) give the
    same epochs as loading in the main process."""
    runs = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        train_run(tiny_config(kmader_subset, epochs=2, workers=workers), out, log=lambda line: None)
        runs[workers] = _history(out)
    for a, b in zip(runs[0], runs[2], strict=True):
        for column in ("train_loss", "val_loss", "val_dice"):
            assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-5), column


def test_nan_guard_under_bf16_autocast(tmp_path, kmader_subset, monkeypatch):
    import lungseg.training.tasks as tasks
    from lungseg.errors import TrainingDiverged

    real = tasks.build_loss

    def poisoned(*args):
        loss_fn = real(*args)
        return lambda logits, target, weight=None: (
            loss_fn(logits, target, weight) * (float("nan") if torch.is_grad_enabled() else 1.0)
        )

    monkeypatch.setattr(tasks, "build_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train_run(tiny_config(kmader_subset, epochs=1, precision="bf16"), tmp_path / "run", log=lambda line: None)


@pytest.mark.slow
def test_compile_falls_back_or_works(tmp_path, kmader_subset):
    """--compile: trains either way (compiled where the toolchain works, else with a warning)."""
    import warnings

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        train_run(tiny_config(kmader_subset, epochs=1, compile=True), tmp_path / "run", log=lambda line: None)
    assert len(_history(tmp_path / "run")) == 1


@pytest.mark.slow
def test_info_lists_versions_devices_and_backends():
    result = run_cli("info", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["torch"] == torch.__version__ and report["default_device"] in ("cpu", "cuda:0")
    assert report["backend_auto"] in ("onnx", "torch") and isinstance(report["gpus"], list)


# --- on a GPU ------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_gpu_training_and_device_neutral_checkpoint(tmp_path, kmader_subset, precision):
    """Trained on the GPU (AMP; fp16 with the gradient scaler), the checkpoint predicts on the CPU with
    the same masks as the GPU gives."""
    from lungseg.inference import Predictor
    from lungseg.io import read_image

    out = tmp_path / precision
    train_run(tiny_config(kmader_subset, epochs=2, device="cuda", precision=precision), out, log=lambda line: None)
    assert _history(out)[-1]["device"].startswith("cuda") and _history(out)[-1]["precision"] == precision
    image = read_image(sorted((kmader_subset / "images").iterdir())[0])
    on_cpu = Predictor.load(out / "best.pt", backend="torch", device="cpu").probabilities([image])[0]
    on_gpu = Predictor.load(out / "best.pt", backend="torch", device="cuda", precision="fp32").probabilities([image])[0]
    assert np.abs(on_cpu - on_gpu).max() < 1e-3


@pytest.mark.gpu
def test_gpu_backend_auto_and_amp_inference_match_the_cpu(kmader_subset):
    from lungseg.inference import Predictor
    from lungseg.io import read_image

    images = [read_image(p) for p in sorted((kmader_subset / "images").iterdir())[:8]]
    gpu = Predictor.load("ct-lung")  # auto: PyTorch on the GPU in bf16
    assert gpu.runs_on.startswith("torch on cuda") and gpu.batch_size == 64
    cpu = Predictor.load("ct-lung", backend="onnx")
    for a, b in zip(gpu.predict(images), cpu.predict(images)):
        assert (a == b).mean() > 0.995


@pytest.mark.gpu
def test_gpu_runs_repeat_within_tolerance(tmp_path, kmader_subset):
    """Seeded GPU runs are not bit-identical (cuDNN autotuning, atomics): two runs agree within 2 %."""
    runs = []
    for name in ("a", "b"):
        train_run(tiny_config(kmader_subset, epochs=2, device="cuda"), tmp_path / name, log=lambda line: None)
        runs.append(_history(tmp_path / name))
    for a, b in zip(*runs, strict=True):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=0.02)


@pytest.mark.gpu
@pytest.mark.slow
def test_gpu_benchmark_quick_run(tmp_path):
    """benchmarks/gpu.py end to end on the GPU in its quick mode."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "gpu.py"), "--quick", "--out", str(tmp_path / "g.json")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "g.json").read_text())
    assert result["infer_lungseg"]["popi"]["runs_on"].startswith("torch on cuda")
