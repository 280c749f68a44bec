"""Inference backends: run a batch of prepared slices through the network, with PyTorch or ONNX Runtime.

Both take (N, 1, S, S) float32 arrays in [0, 1] (the preprocessing plan's output) and return
(N, 1, S, S) float32 logits. ``export_onnx`` writes a checkpoint's model as ONNX with a dynamic batch
axis; ONNX Runtime was measured faster than PyTorch on CPU for the shipped U-Net (benchmarks/README.md),
so ``"auto"`` picks it when ``onnxruntime`` is installed.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from lungseg.errors import InputError
from lungseg.io import atomic_path
from lungseg.models import model_from_checkpoint

BACKENDS = ("auto", "torch", "onnx")


class TorchBackend:
    name = "torch"

    def __init__(self, checkpoint: dict):
        self.model = model_from_checkpoint(checkpoint).to(memory_format=torch.channels_last)

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(batch)).contiguous(memory_format=torch.channels_last)
        return self.model(tensor).float().numpy()


class OnnxBackend:
    name = "onnx"

    def __init__(self, model: bytes | str | Path, source: str | Path | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(source or model, f"cannot load ONNX model ({str(exc).splitlines()[0][:160]})") from exc
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def onnx_bytes(checkpoint: dict) -> bytes:
    """The checkpoint's model as an ONNX graph (opset 17, dynamic batch axis, input ``image``)."""
    model = model_from_checkpoint(checkpoint)
    size = int(checkpoint["preprocessing"]["image_size"])
    example = torch.zeros(1, model_in_channels(model), size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation; it still works
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    return buffer.getvalue()


def export_onnx(checkpoint: dict, path: str | Path) -> Path:
    """Write the checkpoint's model to ``path`` as ONNX (atomically)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(onnx_bytes(checkpoint))
    return Path(path)


def model_in_channels(model: torch.nn.Module) -> int:
    first = next(module for module in model.modules() if isinstance(module, torch.nn.Conv2d))
    return int(first.in_channels)


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def make_backend(checkpoint: dict, backend: str = "auto", onnx_file: str | Path | None = None):
    """``"torch"``, ``"onnx"`` (from ``onnx_file`` or exported in memory) or ``"auto"`` (ONNX when
    onnxruntime is installed, else PyTorch)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch" or (backend == "auto" and not onnx_available()):
        return TorchBackend(checkpoint)
    if onnx_file is not None:
        return OnnxBackend(Path(onnx_file), source=onnx_file)
    return OnnxBackend(onnx_bytes(checkpoint))
