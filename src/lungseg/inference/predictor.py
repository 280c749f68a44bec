"""``Predictor``: a checkpoint's model plus its preprocessing plan, applied to 2D images.

``Predictor.from_checkpoint(path).apply(image_or_path)`` returns a bool mask on the input's own pixel
grid. Images are preprocessed exactly as in training (the plan stored in the checkpoint), run in
batches, and the probability map is resized back with linear interpolation before thresholding.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lungseg.io import read_image
from lungseg.models import load_checkpoint, model_from_checkpoint
from lungseg.preprocessing import PreprocessPlan


class Predictor:
    """Inference object for 2D slices. ``threshold`` applies to sigmoid probabilities."""

    def __init__(self, checkpoint: dict, threshold: float = 0.5, batch_size: int = 8,
                 source: str | Path | None = None):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.checkpoint = checkpoint
        self.source = source
        self.model = model_from_checkpoint(checkpoint).to(memory_format=torch.channels_last)
        self.plan = PreprocessPlan.from_dict(checkpoint["preprocessing"])
        self.threshold = threshold
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> Predictor:
        torch.set_num_threads(os.cpu_count() or 1)
        return cls(load_checkpoint(path), source=path, **kwargs)

    @torch.no_grad()
    def probabilities(self, images: list[np.ndarray], sources: list | None = None) -> list[np.ndarray]:
        """Foreground probability maps (float32 in [0, 1]) on each image's own (H, W) grid."""
        sources = sources or [None] * len(images)
        prepared = [self.plan.prepare(image, source) for image, source in zip(images, sources)]
        results = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            batch = torch.from_numpy(np.stack([x for x, _ in chunk]))[:, None]
            logits = self.model(batch.contiguous(memory_format=torch.channels_last))
            probabilities = torch.sigmoid(logits[:, 0]).numpy()
            results += [self.plan.restore(p, box) for p, (_, box) in zip(probabilities, chunk)]
        return results

    def predict(self, images: list[np.ndarray], sources: list | None = None) -> list[np.ndarray]:
        """Bool masks (probability > threshold) on each image's own grid."""
        return [p > self.threshold for p in self.probabilities(images, sources)]

    def apply(self, image: np.ndarray | str | Path) -> np.ndarray:
        """One image (array or path to a 2D image file) -> bool mask of the same (H, W)."""
        source = None
        if isinstance(image, (str, Path)):
            source, image = image, read_image(image)
        return self.predict([np.asarray(image)], [source])[0]
