"""Lesion burden from one label map of lungs and lesions: per lesion class and per lung, the size and the
percentage of the lung affected, the usual CT severity band per lung, and tumour components.

- Each lesion voxel belongs to the lung whose nearest lung voxel (same slice) carries that side's label.
- A lung's size is its lung voxels plus the lesion voxels assigned to it (lesions replace the lung label
  under them), so "percent of lung" is lesion / (lung + lesion) of that side.
- Severity band per lung (the basis of the CT severity score, here per lung rather than per lobe):
  0 = 0 %, 1 = 1-25 %, 2 = 26-50 %, 3 = 51-75 %, 4 = > 75 % of the lung affected by any lesion class.
- Tumour classes get their connected components (3D in a volume): voxels, volume (mL) or area (mm^2),
  and the longest axial diameter (mm, RECIST-style: the largest in-plane Feret diameter over the
  component's slices; pixels without spacing).
"""

from __future__ import annotations

import numpy as np

from lungseg.inference.core.lesion_burden import Component, LesionBurden, Size
from lungseg.inference.lesions.model import component_structure
from lungseg.labels import TUMOUR, LabelClass

COMPONENT_CLASSES = (TUMOUR,)


def severity(percent: float) -> int:
    """Percent of a lung affected -> band 0..4 (module docstring)."""
    if percent <= 0:
        return 0
    return 1 + min(3, int(np.ceil(percent / 25.0)) - 1)


def lesion_burden(
    labels: np.ndarray, lungs: tuple[LabelClass, ...], lesions: tuple[LabelClass, ...], spacing, is_volume: bool
) -> LesionBurden:
    """``labels``: (Z, Y, X) merged label map; ``lungs``/``lesions``: its lung and lesion classes;
    ``spacing``: (x, y[, z]) mm or None."""
    voxel_size = float(np.prod(spacing)) if spacing else None
    side = _lesion_sides(labels, lungs, lesions)
    lesion_mask = side > 0
    totals = {
        lung: int(np.count_nonzero(labels == lung.value)) + int(np.count_nonzero(side == lung.value)) for lung in lungs
    }
    rows = []
    for lesion in lesions:
        region = labels == lesion.value
        per_lung = {}
        for lung in lungs:
            count = int(np.count_nonzero(region & (side == lung.value)))
            per_lung[lung.key] = (Size.of(count, voxel_size, is_volume), _percent(count, totals[lung]))
        rows.append((lesion, Size.of(int(region.sum()), voxel_size, is_volume), per_lung))
    affected = {}
    for lung in lungs:
        percent = _percent(int(np.count_nonzero(lesion_mask & (side == lung.value))), totals[lung])
        affected[lung.key] = (percent, severity(percent))
    components = tuple(
        (lesion, tumour_components(labels == lesion.value, spacing, is_volume))
        for lesion in lesions
        if lesion in COMPONENT_CLASSES
    )
    return LesionBurden(tuple(rows), affected, components)


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _lesion_sides(labels: np.ndarray, lungs: tuple[LabelClass, ...], lesions: tuple[LabelClass, ...]) -> np.ndarray:
    """(Z, Y, X) uint8: at each lesion voxel the value of the nearest lung label on its slice, 0 elsewhere."""
    from scipy import ndimage

    lung_values = np.array([lung.value for lung in lungs])
    lesion_values = np.array([lesion.value for lesion in lesions])
    side = np.zeros(labels.shape, np.uint8)
    for z, plane in enumerate(labels):
        lesion = np.isin(plane, lesion_values)
        lung = np.isin(plane, lung_values)
        if not lesion.any() or not lung.any():
            continue
        if len(lungs) == 1:
            side[z][lesion] = lungs[0].value
            continue
        nearest = ndimage.distance_transform_edt(~lung, return_distances=False, return_indices=True)
        side[z][lesion] = plane[nearest[0][lesion], nearest[1][lesion]]
    return side


def tumour_components(mask: np.ndarray, spacing, is_volume: bool) -> tuple[Component, ...]:
    """Connected components of a (Z, Y, X) bool mask, largest first (module docstring)."""
    from scipy import ndimage

    structure = component_structure(len(mask) > 1)
    components, count = ndimage.label(mask, structure)
    voxel_size = float(np.prod(spacing)) if spacing else None
    pixel = (float(spacing[1]), float(spacing[0])) if spacing else (1.0, 1.0)  # (row, column) size
    found = []
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        region = components[box] == index
        diameter = max(feret_diameter(plane, pixel) for plane in region if plane.any())
        found.append(
            Component(
                Size.of(int(region.sum()), voxel_size, is_volume),
                diameter,
                "mm" if spacing else "pixels",
                (box[0].start, box[0].stop - 1),
            )
        )
    return tuple(sorted(found, key=lambda c: -c.size.voxels))


def feret_diameter(plane: np.ndarray, pixel: tuple[float, float]) -> float:
    """The largest distance between two points of a 2D bool region, its pixels taken as squares of
    ``pixel`` (row, column) size (their corners span the region)."""
    from scipy.spatial import ConvexHull, QhullError

    rows, cols = np.nonzero(plane)
    corners = np.concatenate([np.stack([rows + dy, cols + dx], 1) for dy in (0, 1) for dx in (0, 1)])
    points = corners * np.array(pixel)
    try:
        points = points[ConvexHull(points).vertices]
    except QhullError:  # collinear corners cannot happen for squares, but keep the brute force path
        pass
    differences = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((differences**2).sum(-1)).max())
