"""Coloured marks on gray CT exports: found and painted out, so a classifier cannot read them.

CT exports are gray (R = G = B). Some carry small coloured marks (a purple scan line, a red "not for
diagnostic use" banner) that in public sets sit almost only on one class, a shortcut a network learns
instead of the anatomy. A pixel is *marked* when its channels differ by more than ``CHROMA`` gray
levels (JPEG colour bleeding stays below that); marked pixels, grown by one pixel, are inpainted from
their gray surroundings (OpenCV's Telea method). Black or white annotation strokes are gray and are not
found this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHROMA = 40  # gray levels between the largest and smallest channel of a marked pixel


@dataclass(frozen=True)
class Unmarked:
    """The gray (H, W) uint8 picture with marks painted out, and the marked fraction of its pixels."""

    gray: np.ndarray
    marked_fraction: float


def mark_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 -> (H, W) bool: pixels whose colour channels differ by more than ``CHROMA``."""
    channels = np.asarray(rgb)[..., :3].astype(np.int16)
    return (channels.max(axis=-1) - channels.min(axis=-1)) > CHROMA


def paint_out_marks(picture: np.ndarray) -> Unmarked:
    """A stored picture ((H, W) gray or (H, W, 3|4) colour, uint8) -> gray with coloured marks inpainted.
    Gray input is returned as it is (nothing can be told apart from the anatomy by colour)."""
    import cv2

    picture = np.asarray(picture)
    if picture.dtype != np.uint8:
        raise ValueError(f"paint_out_marks: picture must be uint8, got {picture.dtype}")
    if picture.ndim == 2:
        return Unmarked(picture, 0.0)
    if picture.ndim != 3 or picture.shape[-1] not in (3, 4):
        raise ValueError(f"paint_out_marks: picture must be (H, W), (H, W, 3) or (H, W, 4), got {picture.shape}")
    rgb = picture[..., :3].astype(np.float32)
    gray = np.clip(np.rint(rgb @ np.array([0.299, 0.587, 0.114], np.float32)), 0, 255).astype(np.uint8)
    marks = mark_mask(picture)
    if not marks.any():
        return Unmarked(gray, 0.0)
    grown = cv2.dilate(marks.astype(np.uint8), np.ones((3, 3), np.uint8))
    return Unmarked(cv2.inpaint(gray, grown, 3, cv2.INPAINT_TELEA), float(marks.mean()))
