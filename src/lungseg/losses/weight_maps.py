"""The U-Net paper's pixel weight map (Ronneberger et al. 2015, eq. 2), in numpy/scipy.

w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2)) on background pixels, where d1 and d2
are the distances to the nearest and second-nearest foreground object (connected component), and
w_c balances the classes (each class gets total weight 1/2, so the mean of w_c over the image is 1).
It puts a high weight on the thin background gaps between touching objects (cell membranes).
"""

from __future__ import annotations

import numpy as np


def class_balance_weights(mask: np.ndarray) -> np.ndarray:
    """w_c: 0.5 / (class frequency) per pixel; float32 with mean 1 when both classes are present."""
    mask = np.asarray(mask, dtype=bool)
    foreground = mask.mean()
    if foreground in (0.0, 1.0):
        return np.ones(mask.shape, np.float32)
    return np.where(mask, 0.5 / foreground, 0.5 / (1.0 - foreground)).astype(np.float32)


def border_weight_map(mask: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """(H, W) bool mask -> (H, W) float32 weights; fewer than two objects gives just w_c."""
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    weights = class_balance_weights(mask)
    labels, count = ndimage.label(mask)
    if count < 2:
        return weights
    nearest = np.full(mask.shape, np.inf, np.float32)
    second = np.full(mask.shape, np.inf, np.float32)
    for label in range(1, count + 1):
        distance = ndimage.distance_transform_edt(labels != label).astype(np.float32)
        second = np.minimum(second, np.maximum(nearest, distance))
        nearest = np.minimum(nearest, distance)
    border = w0 * np.exp(-((nearest + second) ** 2) / (2.0 * sigma**2))
    return (weights + np.where(mask, 0.0, border)).astype(np.float32)
