"""Inference backends: run a batch of prepared slices through the network, with PyTorch or ONNX Runtime.

Both take (N, 1, S, S) float32 arrays in [0, 1] (the preprocessing plan's output) and return
(N, 1, S, S) float32 logits. ``export_onnx`` writes a checkpoint's model as ONNX with a dynamic batch
axis and the checkpoint's metadata (model spec, preprocessing plan, split, config; everything except the
weights, which are in the graph) as JSON under the metadata key ``lungseg.checkpoint``, so an exported file
is a complete model: inference from it needs neither the ``.pt`` file nor PyTorch. ONNX Runtime was
measured faster than PyTorch on CPU for the shipped U-Net (benchmarks/README.md), so ``"auto"`` picks it
when ``onnxruntime`` is installed. PyTorch is imported only by the functions that need it.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from lungseg.errors import InputError
from lungseg.io import atomic_path

BACKENDS = ("auto", "torch", "onnx")
METADATA_KEY = "lungseg.checkpoint"
NOT_METADATA = ("state_dict", "training_state")  # tensors: the weights live in the ONNX graph itself


class TorchBackend:
    name = "torch"

    def __init__(self, checkpoint: dict):
        import torch

        from lungseg.models import model_from_checkpoint

        torch.set_num_threads(os.cpu_count() or 1)
        self.model = model_from_checkpoint(checkpoint).to(memory_format=torch.channels_last)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
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
        self.source = source or model

    def checkpoint_metadata(self) -> dict:
        """The checkpoint fields stored at export (model, preprocessing, split, ...); ``InputError`` for an
        ONNX file that lungseg did not export (it lacks the preprocessing plan)."""
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text is None:
            raise InputError(self.source, f"ONNX file has no '{METADATA_KEY}' metadata (preprocessing plan); "
                                          "export it with `lungseg export`")
        return json.loads(text)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def onnx_bytes(checkpoint: dict) -> bytes:
    """The checkpoint's model as an ONNX graph (opset 17, dynamic batch axis, input ``image``) carrying
    the checkpoint's metadata."""
    import onnx
    import torch

    from lungseg.models import model_from_checkpoint

    model = model_from_checkpoint(checkpoint)
    size = int(checkpoint["preprocessing"]["image_size"])
    example = torch.zeros(1, model_in_channels(model), size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation; it still works
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    graph = onnx.load_from_string(buffer.getvalue())
    metadata = {key: value for key, value in checkpoint.items() if key not in NOT_METADATA}
    onnx.helper.set_model_props(graph, {METADATA_KEY: json.dumps(metadata, default=str)})
    return graph.SerializeToString()


def export_onnx(checkpoint: dict, path: str | Path) -> Path:
    """Write the checkpoint's model to ``path`` as ONNX (atomically)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(onnx_bytes(checkpoint))
    return Path(path)


def model_in_channels(model) -> int:
    import torch

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
