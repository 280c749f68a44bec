"""How a model runs at prediction time: the settings ``lungseg predict``, ``evaluate`` and ``classify
evaluate``/``predict`` share, declared once (help, choices, range) for the command line to build its
options from. The inference layer takes them as keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lungseg.config.fields import setting
from lungseg.config.run import DEVICE, Precision

Backend = Literal["auto", "torch", "onnx"]


@dataclass(frozen=True)
class InferenceConfig:
    """Backend, device, precision and foreground threshold of a prediction run (defaults: ``auto``, 0.5)."""

    backend: Backend = setting(
        "auto", "auto: PyTorch on a CUDA GPU when one is present, else ONNX Runtime when installed."
    )
    device: str = setting("auto", "For the PyTorch backend (auto: CUDA when PyTorch sees a GPU).", **DEVICE)
    precision: Precision = setting("auto", "For the PyTorch backend (auto: bf16 on a CUDA GPU, fp32 elsewhere).")
    threshold: float = setting(0.5, "Probability above which a pixel is foreground.", above=0, below=1)
