"""Overlay pictures: the image in gray with the mask tinted and outlined."""

from __future__ import annotations

import numpy as np

from lungseg.preprocessing import PreprocessPlan

COLOURS = np.array([[0, 0, 0], [255, 64, 64], [64, 160, 255], [255, 200, 0]], dtype=np.float32)


def render_overlay(image: np.ndarray, mask: np.ndarray, plan: PreprocessPlan, alpha: float = 0.35) -> np.ndarray:
    """(H, W) stored image + (H, W) bool/label mask -> (H, W, 3) uint8 RGB.

    The image is shown as the model saw it (the plan's window); each label is tinted and outlined.
    """
    import cv2

    gray = np.rint(plan.normalize(image) * 255).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    labels = np.asarray(mask).astype(np.uint8)
    for label in np.unique(labels):
        if label == 0:
            continue
        colour = COLOURS[min(int(label), len(COLOURS) - 1)]
        region = labels == label
        rgb[region] = (1 - alpha) * rgb[region] + alpha * colour
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        outline = np.zeros_like(gray)
        cv2.drawContours(outline, contours, -1, 1, thickness=max(1, round(max(gray.shape) / 256)))
        rgb[outline > 0] = colour
    return np.clip(rgb, 0, 255).astype(np.uint8)
