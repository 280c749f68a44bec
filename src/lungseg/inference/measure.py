"""Lung measurements from a label map and the CT in HU: volume (mL), mean HU, % of voxels below -950 HU.

The -950 HU fraction is the usual emphysema index (LAA-950). A 2D slice gives areas instead of volumes
(cm^2 when the pixel spacing is known, else pixel counts).
"""

from __future__ import annotations

import numpy as np

from lungseg.inference.postprocess import LABEL_NAMES

EMPHYSEMA_HU = -950.0


def lung_measurements(labels: np.ndarray, hu: np.ndarray | None, spacing: tuple[float, ...] | None,
                      is_volume: bool) -> dict:
    """Per-lung and total measurements. ``spacing`` is (x, y[, z]) in mm or None if unknown."""
    voxel = float(np.prod(spacing)) if spacing else None
    lungs = {}
    for label, name in LABEL_NAMES.items():
        region = labels == label
        lungs[name.replace(" ", "_")] = _region_stats(region, hu, voxel, is_volume)
    lungs["total"] = _region_stats(labels > 0, hu, voxel, is_volume)
    return lungs


def _region_stats(region: np.ndarray, hu: np.ndarray | None, voxel: float | None, is_volume: bool) -> dict:
    count = int(region.sum())
    stats: dict = {"voxels": count}
    if voxel is not None:
        if is_volume:
            stats["volume_ml"] = round(count * voxel / 1000.0, 1)
        else:
            stats["area_cm2"] = round(count * voxel / 100.0, 2)
    if hu is not None and count:
        values = hu[region]
        stats["mean_hu"] = round(float(values.mean(dtype=np.float64)), 1)
        stats["percent_below_-950_hu"] = round(100.0 * float((values < EMPHYSEMA_HU).mean()), 2)
    return stats
