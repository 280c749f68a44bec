"""``Predictor``: a model plus its preprocessing plan, applied to 2D slices in batches.

``Predictor.load("ct-lung")`` (a shipped model), ``Predictor.load("model.onnx")`` (a ``lungseg export``
file) or ``Predictor.load("best.pt")``; ``.apply(image_or_path)`` returns a bool mask on the input's own
pixel grid. Images are preprocessed exactly as in training (the plan stored in the checkpoint or the ONNX
file's metadata), run in batches through the backend (ONNX Runtime or PyTorch), and the probability map is
resized back with linear interpolation before thresholding. With ``tta=True`` every batch also runs
left-right flipped; the output is the mean of both and their per-slice agreement is a quality signal.
The ONNX path never imports PyTorch (about 0.5 GB less memory and a faster start).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lungseg.errors import InputError
from lungseg.inference.core.backends import BACKENDS, OnnxBackend, make_backend, onnx_available, prefers_torch
from lungseg.inference.core.domain import load_domain
from lungseg.inference.core.ensemble import is_ensemble, load_ensemble
from lungseg.io import read_image
from lungseg.io.shipped import resolve_model, shipped_models
from lungseg.metrics.functional import dice
from lungseg.model_card import ModelCard

if TYPE_CHECKING:
    from lungseg.models import Checkpoint
    from lungseg.preprocessing.domain import DomainModel

CPU_BATCH, GPU_BATCH = 4, 64  # slices per batch by default: small on a CPU (as fast, less memory), large on a GPU


def on_gpu(backend) -> bool:
    device = getattr(backend, "device", None)
    if device is None and hasattr(backend, "members"):
        device = getattr(backend.members[0], "device", None)
    return getattr(device, "type", None) == "cuda"


def read_card(reference: str | Path) -> ModelCard:
    """The model card of a shipped model name, an exported ``.onnx`` file or a checkpoint, without
    building the network: from the ONNX metadata where there is an ONNX file and ONNX Runtime (no
    PyTorch), else from the checkpoint."""
    shipped = shipped_models().get(str(reference))
    if onnx_available() and (str(reference).endswith(".onnx") or (shipped and "onnx" in shipped["files"])):
        return OnnxBackend(resolve_model(reference, "onnx" if shipped else "checkpoint"), source=reference).card()
    from lungseg.models import load_checkpoint  # imports PyTorch

    return load_checkpoint(resolve_model(reference)).card


class Predictor:
    """Inference object for 2D slices. ``card`` describes the model (a ``ModelCard``; a ``Checkpoint``
    also gives the weights a string ``backend`` needs); ``threshold`` applies to sigmoid probabilities;
    ``backend`` is ``"auto"``, ``"torch"``, ``"onnx"`` or a ready backend object (a callable on
    (N, 1, S, S) arrays)."""

    def __init__(
        self,
        model: ModelCard | Checkpoint,
        threshold: float = 0.5,
        batch_size: int | None = None,
        source: str | Path | None = None,
        backend="auto",
        onnx_file: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
    ):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.card: ModelCard = model if isinstance(model, ModelCard) else model.card
        if self.card.task == "classification":
            raise InputError(
                source,
                "is an image classifier, not a segmentation model: use `lungseg classify "
                "predict` (Python: lungseg.inference.classify.classifier.ImageClassifier)",
            )
        self.channels = self.card.channels
        if isinstance(backend, str) and isinstance(model, ModelCard):
            raise ValueError("a model card alone has no weights: give a Checkpoint or a ready backend")
        self.source = source
        self.backend = (
            make_backend(model, backend, onnx_file, source, device, precision) if isinstance(backend, str) else backend
        )
        self.plan = self.card.plan
        self.threshold = threshold
        self.batch_size = batch_size or (GPU_BATCH if on_gpu(self.backend) else CPU_BATCH)
        self.domain: DomainModel | None = None  # the in-domain check stored with a shipped model (set by ``load``)

    @property
    def runs_on(self) -> str:
        """Where the network runs, for reports: "onnxruntime on cpu", "torch on cuda:0 (bf16)", ..."""
        return getattr(self.backend, "description", self.backend.name)

    @classmethod
    def load(cls, reference: str | Path, backend: str = "auto", **kwargs) -> Predictor:
        """A shipped model name (see ``lungseg.io.shipped``), an exported ``.onnx`` file, a checkpoint or a
        ``lungseg cv`` folder (the fold models as an ensemble). With ONNX Runtime (``backend`` "auto" or "onnx") a
        shipped model runs from its ONNX file."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        device, precision = kwargs.get("device", "auto"), kwargs.get("precision", "auto")
        use_onnx = not prefers_torch(backend, device)
        if is_ensemble(reference):
            card, members = load_ensemble(reference, backend, device, precision)
            kwargs = {key: value for key, value in kwargs.items() if key not in ("device", "precision")}
            return cls(card, source=reference, backend=members, **kwargs)
        if Path(reference).is_dir():
            raise InputError(
                reference,
                "is a folder without ensemble.json; give a checkpoint (.pt), an exported "
                "model (.onnx), a `lungseg cv` folder or a shipped model name",
            )
        if str(reference).endswith(".onnx"):
            if backend == "torch":
                raise ValueError("backend 'torch' cannot run an .onnx model file; use 'onnx' or 'auto'")
            return cls.from_onnx(resolve_model(reference), source=reference, **kwargs)
        if use_onnx and str(reference) in shipped_models():
            predictor = cls.from_onnx(resolve_model(reference, "onnx"), source=reference, **kwargs)
        else:
            from lungseg.models import load_checkpoint  # imports PyTorch

            predictor = cls(load_checkpoint(resolve_model(reference)), source=reference, backend=backend, **kwargs)
        predictor.domain = load_domain(reference)
        return predictor

    @classmethod
    def from_onnx(cls, path: str | Path, source: str | Path | None = None, **kwargs) -> Predictor:
        """An ONNX file written by ``lungseg export`` (its metadata holds the preprocessing plan); ONNX
        Runtime runs it on the CPU."""
        if str(kwargs.pop("device", "auto")).lower() not in ("auto", "cpu"):
            raise ValueError("an .onnx model file runs on the CPU (ONNX Runtime); for a GPU give the checkpoint")
        kwargs.pop("precision", None)
        backend = OnnxBackend(Path(path), source=path)
        return cls(backend.card(), source=source or path, backend=backend, **kwargs)

    def grid_probabilities(self, batch: np.ndarray, tta: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, S, S) prepared slices in [0, 1] -> (N, S, S) float32 probabilities on the model grid, and
        with ``tta`` the flipped pass (flipped back) as a second array (else None)."""
        inputs = batch[:, None].astype(np.float32, copy=False)
        if tta:
            inputs = np.concatenate([inputs, inputs[..., ::-1]])
        probabilities = 1.0 / (1.0 + np.exp(-self.backend(inputs)[:, 0]))
        if not tta:
            return probabilities, None
        return probabilities[: len(batch)], probabilities[len(batch) :, :, ::-1]

    def classes(
        self, images: Sequence[np.ndarray], sources: Sequence | None = None, tta: bool = False
    ) -> list[np.ndarray]:
        """K-class models: (H, W) uint8 class maps (0 background .. K) on each image's own grid, the
        argmax of ``class_probabilities``."""
        return [np.argmax(p, axis=0).astype(np.uint8) for p in self.class_probabilities(images, sources, tta)]

    def class_probabilities(
        self, images: Sequence[np.ndarray], sources: Sequence | None = None, tta: bool = False
    ) -> list[np.ndarray]:
        """K-class models: (C, H, W) float32 softmax probabilities (background first) on each image's own
        grid, resized back per class (with ``tta``, averaged with the left-right flipped pass)."""
        if self.channels == 1:
            raise ValueError("classes() is for multi-class models; this model is binary (use predict())")
        maps = []
        for start in range(0, len(images), self.batch_size):
            stop = min(start + self.batch_size, len(images))
            chunk = [
                self.plan.prepare(np.asarray(images[i]), sources[i] if sources else None) for i in range(start, stop)
            ]
            inputs = np.stack([x for x, _ in chunk])[:, None].astype(np.float32, copy=False)
            logits = self.backend(np.concatenate([inputs, inputs[..., ::-1]]) if tta else inputs)
            probabilities = _softmax(logits)
            if tta:
                probabilities = (probabilities[: len(chunk)] + probabilities[len(chunk) :, :, :, ::-1]) / 2
            for grid, (_, box) in zip(probabilities, chunk):
                maps.append(np.stack([self.plan.restore(channel, box) for channel in grid]).astype(np.float32))
        return maps

    def batches(
        self, images: Sequence[np.ndarray] | np.ndarray, sources: Sequence | None = None, tta: bool = False
    ) -> Iterator[tuple[int, list[np.ndarray], np.ndarray]]:
        """Run ``images`` batch by batch; yield (index of the batch's first image, float32 probability maps
        in [0, 1] on each image's own (H, W) grid, flip agreement per image: Dice of the plain and flipped
        masks at the predictor's threshold on the model grid, 1.0 without ``tta``). Only one batch is held in
        memory at a time.
        Binary models only (multi-class: ``classes``)."""
        if self.channels > 1:
            raise InputError(
                self.source,
                f"a {self.channels - 1}-class model ({', '.join(self.card.class_names)}) "
                "gives class maps: use Predictor.classes, `lungseg evaluate`, or "
                "`lungseg predict --model NAME` (lungs + lesions in one label map)",
            )
        for start in range(0, len(images), self.batch_size):
            stop = min(start + self.batch_size, len(images))
            chunk = [
                self.plan.prepare(np.asarray(images[i]), sources[i] if sources else None) for i in range(start, stop)
            ]
            plain, flipped = self.grid_probabilities(np.stack([x for x, _ in chunk]), tta)
            merged = plain if flipped is None else (plain + flipped) / 2
            agreement = (
                np.ones(len(chunk), np.float32)
                if flipped is None
                else np.array(
                    [dice(a > self.threshold, b > self.threshold) for a, b in zip(plain, flipped)], np.float32
                )
            )
            yield start, [self.plan.restore(p, box) for p, (_, box) in zip(merged, chunk)], agreement

    def probabilities(
        self, images: Sequence[np.ndarray], sources: Sequence | None = None, tta: bool = False
    ) -> list[np.ndarray]:
        """Foreground probability maps (float32 in [0, 1]) on each image's own (H, W) grid."""
        return [p for _, batch, _ in self.batches(images, sources, tta) for p in batch]

    def predict(
        self, images: Sequence[np.ndarray], sources: Sequence | None = None, tta: bool = False
    ) -> list[np.ndarray]:
        """Bool masks (probability > threshold) on each image's own grid."""
        return [p > self.threshold for p in self.probabilities(images, sources, tta)]

    def apply(self, image: np.ndarray | str | Path) -> np.ndarray:
        """One image (array or path to a 2D image file) -> bool mask of the same (H, W)."""
        source = None
        if isinstance(image, (str, Path)):
            source, image = image, read_image(image)
        return self.predict([np.asarray(image)], [source])[0]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
