"""Crop a CT slice picture to its lung fields, found by the shipped 8-bit CT lung model.

A classifier trained with ``preprocess.field_of_view: lungs`` sees only the box around both lungs
(grown by ``MARGIN`` of its size on each side): more pixels on the lungs and hila, and no framing,
table or text around the body for it to learn instead. Training and inference call the same
``lung_box``, so a picture is cropped identically in both. A picture where no lungs are found is kept
whole (the classifier's input check flags such pictures).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lungseg.io.shipped import resolve_model
from lungseg.models import load_checkpoint, model_from_checkpoint

LUNG_MODEL = "ct-lung-8bit"
MARGIN = 0.08
MIN_LUNG_FRACTION = 0.01


@dataclass(frozen=True)
class Box:
    """Rows ``top:bottom`` and columns ``left:right`` of a picture."""

    top: int
    bottom: int
    left: int
    right: int

    def crop(self, picture: np.ndarray) -> np.ndarray:
        return picture[self.top : self.bottom, self.left : self.right]

    def paste(self, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``values`` (the crop's shape) placed on a zero array of the whole picture's ``shape``."""
        whole = np.zeros(shape, values.dtype)
        whole[self.top : self.bottom, self.left : self.right] = values
        return whole


@lru_cache(maxsize=1)
def _lung_model():
    import torch

    checkpoint = load_checkpoint(resolve_model(LUNG_MODEL))
    return model_from_checkpoint(checkpoint, LUNG_MODEL), checkpoint.card.plan, torch


def lung_mask(picture: np.ndarray) -> np.ndarray:
    """(H, W) uint8 picture -> (H, W) bool lung fields (probability > 0.5 on the picture's grid)."""
    model, plan, torch = _lung_model()
    prepared, letterbox = plan.prepare(np.asarray(picture))
    with torch.no_grad():
        logits = model(torch.from_numpy(prepared)[None, None])[0, 0].numpy()
    return plan.restore(1.0 / (1.0 + np.exp(-logits)), letterbox) > 0.5


def lung_box(picture: np.ndarray) -> Box:
    """The lung fields' bounding box grown by ``MARGIN``; the whole picture when they cover less than
    ``MIN_LUNG_FRACTION`` of it."""
    height, width = picture.shape[:2]
    lungs = lung_mask(picture)
    if lungs.mean() < MIN_LUNG_FRACTION:
        return Box(0, height, 0, width)
    rows, columns = np.flatnonzero(lungs.any(axis=1)), np.flatnonzero(lungs.any(axis=0))
    grow_y = round(MARGIN * (rows[-1] - rows[0] + 1))
    grow_x = round(MARGIN * (columns[-1] - columns[0] + 1))
    return Box(
        max(0, rows[0] - grow_y),
        min(height, rows[-1] + 1 + grow_y),
        max(0, columns[0] - grow_x),
        min(width, columns[-1] + 1 + grow_x),
    )
