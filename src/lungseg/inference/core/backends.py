"""Inference backends: run a batch of prepared slices through the network, with PyTorch or ONNX Runtime.

Both take (N, 1, S, S) float32 arrays in [0, 1] (the preprocessing plan's output) and return
(N, 1, S, S) float32 logits. ``export_onnx`` writes a checkpoint's model as ONNX with a dynamic batch
axis and its model card (spec, preprocessing plan, class names, split, metrics, provenance; the weights
are in the graph) as JSON under the metadata key ``lungseg.checkpoint``, so an exported file is a
complete model: inference from it needs neither the ``.pt`` file nor PyTorch. ONNX Runtime was
measured faster than PyTorch on CPU for the shipped U-Net (benchmarks/README.md), so ``"auto"`` picks it
when ``onnxruntime`` is installed and there is no CUDA GPU; with a GPU ``"auto"`` is PyTorch on it, in
bf16 autocast. PyTorch is imported only by the functions that need it.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.io import atomic_path
from lungseg.model_card import ModelCard

if TYPE_CHECKING:
    import torch

BACKENDS = ("auto", "torch", "onnx")
METADATA_KEY = "lungseg.checkpoint"


def thread_count() -> int:
    """Threads one model may use: ``LUNGSEG_THREADS`` when set (a web worker caps its jobs this way so
    the server stays responsive), else every CPU core."""
    value = os.environ.get("LUNGSEG_THREADS", "")
    if value.strip():
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"LUNGSEG_THREADS must be a positive whole number, got {value!r}")
        return int(value)
    return os.cpu_count() or 1


def gpu_present() -> bool:
    """Whether a CUDA GPU is usable, checked without importing PyTorch where there is no NVIDIA driver
    (so the ONNX path on a laptop stays free of torch)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if not Path("/proc/driver/nvidia/version").exists() and not os.environ.get("LUNGSEG_PROBE_CUDA"):
        return False
    import torch

    return torch.cuda.is_available()


class _Precision(Protocol):
    """What a backend uses of ``lungseg.models.device.Precision``. That class shares its name with the
    ``Precision`` literal of ``lungseg.config.run`` it shadows, so mypy reads ``resolve_precision`` as
    returning the literal; this names the real type."""

    name: str

    def autocast(self, device: torch.device) -> AbstractContextManager[Any]: ...


class TorchBackend:
    """PyTorch on ``device`` (``models.device``: auto = a CUDA GPU when present) in ``precision``
    (autocast; auto = bf16 on a GPU); batches go to the device from pinned memory and the logits come
    back as float32 NumPy arrays, so post-processing and measurements stay on the CPU."""

    name = "torch"

    def __init__(self, checkpoint, source: str | Path | None = None, device: str = "auto", precision: str = "auto"):
        import torch

        from lungseg.models import model_from_checkpoint  # imports PyTorch
        from lungseg.models.device import resolve_device, resolve_precision

        torch.set_num_threads(thread_count())
        self.device = resolve_device(device)
        self.precision = cast(_Precision, resolve_precision(precision, self.device))
        model = model_from_checkpoint(checkpoint, source)
        # Module.to takes a device and a memory format in one call; torch's overloads do not list that pair
        self.model = model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]

    @property
    def description(self) -> str:
        return f"torch on {self.device} ({self.precision.name})"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            if self.device.type == "cuda":
                tensor = tensor.pin_memory().to(self.device, non_blocking=True)
            tensor = tensor.contiguous(memory_format=torch.channels_last)
            with self.precision.autocast(self.device):
                logits = self.model(tensor)
            return logits.float().cpu().numpy()


class OnnxBackend:
    name = "onnx"
    description = "onnxruntime on cpu"

    def __init__(self, model: bytes | str | Path, source: str | Path | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = thread_count()
        options.log_severity_level = 3
        named = source or (None if isinstance(model, bytes) else model)  # a graph in memory has no path
        try:
            self.session = onnxruntime.InferenceSession(
                model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise InputError(named, f"cannot load ONNX model ({describe(exc)})") from exc
        self.source = named
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or not outputs:
            raise InputError(
                self.source,
                f"ONNX model has {len(inputs)} inputs and {len(outputs)} outputs; lungseg "
                "needs one image input and a logits output",
            )
        self.input_name = inputs[0].name

    def card(self) -> ModelCard:
        """The model card stored at export, checked against the graph's input and output shapes;
        ``InputError`` for an ONNX file that lungseg did not export (no card), damaged metadata, or a
        graph that does not take (N, 1, S, S) images."""
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text is None:
            raise InputError(
                self.source,
                f"ONNX file has no '{METADATA_KEY}' metadata (preprocessing plan); export it with `lungseg export`",
            )
        try:
            metadata = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(self.source, f"ONNX metadata '{METADATA_KEY}' is not valid JSON ({exc.msg})") from exc
        if not isinstance(metadata, dict) or not isinstance(metadata.get("model"), dict):
            raise InputError(self.source, f"ONNX metadata '{METADATA_KEY}' lacks the model spec")
        card = ModelCard.from_stored(metadata, self.source)
        self._check_shapes(card.plan.image_size, card.channels, per_pixel=card.task == "segmentation")
        return card

    def _check_shapes(self, size: int, channels: int = 1, per_pixel: bool = True) -> None:
        """Input (N, 1, size, size), output (N, channels, size, size) for a segmentation model (``per_pixel``)
        or (N, channels) for a classifier (``ModelCard.channels``); symbolic (dynamic) axes are accepted."""
        for role, node, wanted, rank in (
            ("input", self.session.get_inputs()[0], 1, 4),
            ("output", self.session.get_outputs()[0], channels, 4 if per_pixel else 2),
        ):
            shape = list(node.shape)
            fixed = [None if not isinstance(v, int) else v for v in shape]
            if len(shape) != rank or fixed[1] not in (None, wanted) or any(v not in (None, size) for v in fixed[2:]):
                needed = f"(N, {wanted}, {size}, {size})" if rank == 4 else f"(N, {wanted})"
                raise InputError(
                    self.source, f"ONNX {role} '{node.name}' has shape {shape}; the model card needs {needed}"
                )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        try:
            return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        except Exception as exc:  # onnxruntime raises its own types for graphs that fail on real input
            raise InputError(
                self.source, f"ONNX model failed on a batch of shape {list(batch.shape)} ({describe(exc)})"
            ) from exc


def onnx_bytes(checkpoint, source: str | Path | None = None) -> bytes:
    """A ``Checkpoint``'s model as an ONNX graph (opset 17, dynamic batch axis, input ``image``) carrying
    its model card."""
    import onnx
    import torch

    from lungseg.models import model_from_checkpoint  # imports PyTorch

    model = model_from_checkpoint(checkpoint, source)
    size = checkpoint.card.plan.image_size
    example = torch.zeros(1, model_in_channels(model), size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation; it still works
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object too
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(graph, {METADATA_KEY: json.dumps(checkpoint.card.to_dict(), default=str)})
    return graph.SerializeToString()


def export_onnx(checkpoint, path: str | Path, source: str | Path | None = None) -> Path:
    """Write the checkpoint's model to ``path`` as ONNX (atomically; the graph is built before the file
    is touched)."""
    graph = onnx_bytes(checkpoint, source)
    with atomic_path(path) as temporary:
        temporary.write_bytes(graph)
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


def prefers_torch(backend: str, device: str = "auto") -> bool:
    """Whether ``backend`` "auto" means PyTorch: on a CUDA GPU (``device`` auto/cuda with one present, or
    any device other than the CPU named), or when ONNX Runtime is missing."""
    if backend != "auto":
        return backend == "torch"
    device = str(device).lower()
    if device != "cpu" and (device != "auto" or gpu_present()):
        return True
    return not onnx_available()


def make_backend(
    checkpoint,
    backend: str = "auto",
    onnx_file: str | Path | None = None,
    source: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
):
    """``"torch"`` (on ``device`` in ``precision``), ``"onnx"`` (from ``onnx_file`` or exported in memory,
    CPU) or ``"auto"`` (``prefers_torch``). ``source`` names the checkpoint in errors."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if prefers_torch(backend, device):
        return TorchBackend(checkpoint, source, device, precision)
    if str(device).lower() not in ("auto", "cpu"):
        raise ValueError(f"--device {device} needs the PyTorch backend; ONNX Runtime runs on the CPU here")
    if onnx_file is not None:
        return OnnxBackend(Path(onnx_file), source=onnx_file)
    return OnnxBackend(onnx_bytes(checkpoint, source), source=source)
