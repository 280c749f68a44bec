"""Where models run and in which precision: ``--device`` and ``--precision``, resolved in one place.

``--device auto`` is the first CUDA GPU when PyTorch sees one, else the CPU (Apple ``mps`` only when
named: its float64 and some operators are missing). ``--precision auto`` is bf16 autocast on a CUDA GPU
that supports it (Ampere and later), fp16 autocast with a gradient scaler on older GPUs, and fp32
elsewhere; bf16 may be asked for on the CPU too (autocast on CPU), fp16 only on a GPU. Checkpoints are
always written with CPU tensors and loaded onto the CPU first, so a model trained on a GPU predicts on a
laptop and the other way round.
"""

from __future__ import annotations

import typing
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from lungseg.config.run import DEVICE_PATTERN, Precision

PRECISIONS = typing.get_args(Precision)


def resolve_device(spec: str = "auto") -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` -> a ``torch.device`` that exists here;
    ``ValueError`` naming ``--device`` says why one cannot be used."""
    spec = str(spec).strip().lower()
    if not DEVICE_PATTERN.fullmatch(spec):
        raise ValueError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {spec!r}")
    if spec == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ValueError(
                f"--device {spec}: no CUDA GPU is visible to PyTorch {torch.__version__} ({build}); "
                "use --device cpu, or install the CUDA build (README, 'GPU')"
            )
        index = int(spec.split(":")[1]) if ":" in spec else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
        return torch.device("cuda", index)
    if spec == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError("--device mps: Apple's Metal backend is not available here; use --device cpu")
    return torch.device(spec)


@dataclass(frozen=True)
class Precision:
    """``name``: fp32, bf16 or fp16; ``dtype``: the autocast type (None for fp32); ``scaled``: fp16
    training needs a gradient scaler."""

    name: str
    dtype: torch.dtype | None

    @property
    def scaled(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self, device: torch.device):
        """A context that runs the forward pass in this precision on ``device`` (nothing for fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def resolve_precision(spec: str, device: torch.device) -> Precision:
    """``--precision`` for ``device`` (module docstring); ``ValueError`` naming the option otherwise."""
    spec = str(spec).strip().lower()
    if spec not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {spec!r}")
    if spec == "auto":
        if device.type != "cuda":
            return Precision("fp32", None)
        spec = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if spec == "fp32":
        return Precision("fp32", None)
    if spec == "fp16" and device.type != "cuda":
        raise ValueError(f"--precision fp16 needs a CUDA GPU (device {device}); use bf16 or fp32")
    if spec == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16; use fp16")
    if spec == "bf16" and device.type == "mps":
        raise ValueError("--precision bf16 is not supported on mps; use fp32")
    return Precision(spec, torch.bfloat16 if spec == "bf16" else torch.float16)


def default_workers(device: torch.device, cpu_count: int | None = None) -> int:
    """DataLoader worker processes when ``--workers`` is not given: none on the CPU (the slices are in
    memory and the cores are busy training), else up to 8, leaving one core to the main process."""
    import os

    if device.type == "cpu":
        return 0
    cores = (
        cpu_count
        if cpu_count is not None
        else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    )
    return max(0, min(8, cores - 1))


def describe_devices() -> dict:
    """What PyTorch sees: versions, CUDA/cuDNN, GPUs with memory, mps, and the CPU threads."""
    info = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpus": [],
        "mps_available": bool(hasattr(torch.backends, "mps") and torch.backends.mps.is_available()),
        "cpu_threads": torch.get_num_threads(),
        "default_device": str(resolve_device("auto")),
    }
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        properties = torch.cuda.get_device_properties(index)
        info["gpus"].append(
            {
                "index": index,
                "name": properties.name,
                "memory_gib": round(properties.total_memory / 2**30, 1),
                "capability": f"{properties.major}.{properties.minor}",
                "bf16": torch.cuda.is_bf16_supported(),
            }
        )
    return info
