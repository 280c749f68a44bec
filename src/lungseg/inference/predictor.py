"""``Predictor``: a checkpoint's network plus its preprocessing plan, applied to 2D slices.

``Predictor.load("ct-lung")`` (a shipped model) or ``Predictor.load(path)``; ``.apply(image_or_path)``
returns a bool mask on the input's own pixel grid. Images are preprocessed exactly as in training (the
plan stored in the checkpoint), run in batches through the backend (PyTorch or ONNX Runtime), and the
probability map is resized back with linear interpolation before thresholding. With ``tta=True`` every
batch also runs left-right flipped; the output is the mean of both and the disagreement between them is
kept as a quality signal.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lungseg.inference.backends import make_backend
from lungseg.io import read_image
from lungseg.models import load_checkpoint
from lungseg.models.shipped import resolve_model, shipped_models
from lungseg.preprocessing import PreprocessPlan


class Predictor:
    """Inference object for 2D slices. ``threshold`` applies to sigmoid probabilities."""

    def __init__(self, checkpoint: dict, threshold: float = 0.5, batch_size: int = 8,
                 source: str | Path | None = None, backend: str = "auto", onnx_file: str | Path | None = None):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.checkpoint = checkpoint
        self.source = source
        self.backend = make_backend(checkpoint, backend, onnx_file)
        self.plan = PreprocessPlan.from_dict(checkpoint["preprocessing"])
        self.threshold = threshold
        self.batch_size = batch_size

    @classmethod
    def load(cls, reference: str | Path, backend: str = "auto", **kwargs) -> Predictor:
        """A shipped model name (see ``lungseg.models.shipped``) or a checkpoint path."""
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        path = resolve_model(reference)
        onnx_file = None
        if str(reference) in shipped_models() and backend != "torch":
            onnx_file = resolve_model(reference, "onnx")
        return cls(load_checkpoint(path), source=reference, backend=backend, onnx_file=onnx_file, **kwargs)

    from_checkpoint = load

    def grid_probabilities(self, batch: np.ndarray, tta: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, S, S) prepared slices in [0, 1] -> (N, S, S) float32 probabilities on the model grid, and
        with ``tta`` the flipped pass (flipped back) as a second array (else None)."""
        inputs = batch[:, None].astype(np.float32, copy=False)
        if tta:
            inputs = np.concatenate([inputs, inputs[..., ::-1]])
        probabilities = 1.0 / (1.0 + np.exp(-self.backend(inputs)[:, 0]))
        if not tta:
            return probabilities, None
        return probabilities[:len(batch)], probabilities[len(batch):, :, ::-1]

    def probabilities(self, images: list[np.ndarray], sources: list | None = None,
                      tta: bool = False) -> list[np.ndarray]:
        """Foreground probability maps (float32 in [0, 1]) on each image's own (H, W) grid."""
        sources = sources or [None] * len(images)
        prepared = [self.plan.prepare(image, source) for image, source in zip(images, sources)]
        results = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            plain, flipped = self.grid_probabilities(np.stack([x for x, _ in chunk]), tta)
            merged = plain if flipped is None else (plain + flipped) / 2
            results += [self.plan.restore(p, box) for p, (_, box) in zip(merged, chunk)]
        return results

    def predict(self, images: list[np.ndarray], sources: list | None = None, tta: bool = False) -> list[np.ndarray]:
        """Bool masks (probability > threshold) on each image's own grid."""
        return [p > self.threshold for p in self.probabilities(images, sources, tta)]

    def apply(self, image: np.ndarray | str | Path) -> np.ndarray:
        """One image (array or path to a 2D image file) -> bool mask of the same (H, W)."""
        source = None
        if isinstance(image, (str, Path)):
            source, image = image, read_image(image)
        return self.predict([np.asarray(image)], [source])[0]
