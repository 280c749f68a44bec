"""Resizing to the square model input and back: pad to a square (centred), then resize.

Padding keeps the aspect ratio, so anatomy is never stretched. ``Letterbox`` records what was done so
``restore_*`` puts a model output back on the original pixel grid exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """How an (H, W) image was placed into a ``size`` x ``size`` model input."""

    height: int
    width: int
    size: int

    @property
    def side(self) -> int:
        return max(self.height, self.width)

    @property
    def top(self) -> int:
        return (self.side - self.height) // 2

    @property
    def left(self) -> int:
        return (self.side - self.width) // 2


def to_model_grid(image: np.ndarray, size: int, pad_value: float = 0.0) -> tuple[np.ndarray, Letterbox]:
    """Pad an (H, W) float image to a square and resize it to (size, size) (area/linear interpolation)."""
    import cv2

    box = Letterbox(int(image.shape[0]), int(image.shape[1]), int(size))
    square = _pad_square(image.astype(np.float32), box, pad_value)
    interpolation = cv2.INTER_AREA if box.side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation), box


def mask_to_model_grid(mask: np.ndarray, box: Letterbox) -> np.ndarray:
    """Place a bool (H, W) mask on the model grid with nearest-neighbour resizing (uint8 0/1)."""
    import cv2

    square = _pad_square(mask.astype(np.uint8), box, 0)
    return cv2.resize(square, (box.size, box.size), interpolation=cv2.INTER_NEAREST_EXACT)


def restore_probability(probability: np.ndarray, box: Letterbox) -> np.ndarray:
    """Resize a (size, size) probability map back to (H, W) with linear interpolation."""
    import cv2

    square = cv2.resize(probability.astype(np.float32), (box.side, box.side), interpolation=cv2.INTER_LINEAR)
    return _crop(square, box)


def restore_mask(mask: np.ndarray, box: Letterbox) -> np.ndarray:
    """Resize a (size, size) label mask back to (H, W) with nearest-neighbour interpolation."""
    import cv2

    square = cv2.resize(mask.astype(np.uint8), (box.side, box.side), interpolation=cv2.INTER_NEAREST_EXACT)
    return _crop(square, box)


def _pad_square(image: np.ndarray, box: Letterbox, value: float) -> np.ndarray:
    if box.height == box.width:
        return image
    bottom = box.side - box.height - box.top
    right = box.side - box.width - box.left
    return np.pad(image, ((box.top, bottom), (box.left, right)), constant_values=value)


def _crop(square: np.ndarray, box: Letterbox) -> np.ndarray:
    return square[box.top : box.top + box.height, box.left : box.left + box.width]
