"""What a thoracic radiologist measures on a segmented nodule: volume, the longest axial diameter and
the perpendicular short axis, mean and maximum HU, solid / part-solid / ground-glass by HU, and the
Lung-RADS v2022 size category for that type.

Arrays are (Z, Y, X) with ``spacing`` (z, y, x) in mm. Diameters are measured edge to edge (over the
midpoints of the outline pixels' edges, not the pixel centres), on the axial slice where the long axis is
longest; the short axis is the nodule's width perpendicular to that long axis on the same slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

SOLID_HU = -300.0  # a voxel at or above this is solid (soft-tissue) density; below it ground glass or lung
SOLID_SHARE = 0.8  # core share of solid voxels at or above which a nodule is solid
GROUND_GLASS_SHARE = 0.2  # ... at or below which (mean HU under SOLID_HU) it is ground glass

NoduleType = Literal["solid", "part-solid", "ground-glass"]


@dataclass(frozen=True)
class AxialDiameters:
    """``long_mm``: the longest axial diameter; ``short_mm``: the width perpendicular to it on the same
    slice; ``slice_index``: that slice (Z index); all 0.0 (slice -1) for an empty mask."""

    long_mm: float
    short_mm: float
    slice_index: int

    @property
    def mean_mm(self) -> float:
        """Lung-RADS size: the mean of long and short axis, rounded to 0.1 mm."""
        return round((self.long_mm + self.short_mm) / 2, 1)


@dataclass(frozen=True)
class LungRads:
    """The Lung-RADS v2022 category from size and type alone (a baseline screen), and the rule used.
    Growth, morphology, category 4X and the S modifier need the reading radiologist."""

    category: Literal["2", "3", "4A", "4B"]
    rule: str


@dataclass(frozen=True)
class NoduleMeasures:
    """One nodule. ``volume_mm3`` from the voxel count; HU figures and the type are None without HU
    (8-bit input); ``solid`` is the solid component's diameters (part-solid nodules)."""

    voxels: int
    volume_mm3: float
    diameters: AxialDiameters
    slices: int
    mean_hu: float | None
    max_hu: float | None
    solid_share: float | None
    type: NoduleType | None
    solid: AxialDiameters | None
    lung_rads: LungRads | None

    @property
    def volume_ml(self) -> float:
        return self.volume_mm3 / 1000.0

    def to_dict(self) -> dict:
        """The report's nodule measures: mm, mm³ and mL, HU, rounded for reading."""
        return {
            "volume_mm3": round(self.volume_mm3, 1),
            "volume_ml": round(self.volume_ml, 3),
            "long_axis_mm": round(self.diameters.long_mm, 1),
            "short_axis_mm": round(self.diameters.short_mm, 1),
            "mean_diameter_mm": self.diameters.mean_mm,
            "measured_on_slice": self.diameters.slice_index,
            "slices": self.slices,
            "mean_hu": None if self.mean_hu is None else round(self.mean_hu, 1),
            "max_hu": None if self.max_hu is None else round(self.max_hu, 1),
            "solid_share": None if self.solid_share is None else round(self.solid_share, 3),
            "type": self.type,
            "solid_mean_diameter_mm": None if self.solid is None else self.solid.mean_mm,
            "lung_rads": None if self.lung_rads is None else self.lung_rads.category,
            "lung_rads_rule": None if self.lung_rads is None else self.lung_rads.rule,
        }


def axial_diameters(mask: np.ndarray, spacing: tuple[float, float, float]) -> AxialDiameters:
    """Longest axial diameter and perpendicular width of a (Z, Y, X) bool mask, edge to edge, in mm."""
    best = AxialDiameters(0.0, 0.0, -1)
    corners = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, -0.5], [0.0, 0.5]])  # pixel edge midpoints
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1)):
        edge = mask[z] & ~ndimage.binary_erosion(mask[z])
        points = (np.argwhere(edge)[:, None, :] + corners[None]).reshape(-1, 2) * np.array(spacing[1:])
        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # a one-pixel-wide line: its points are used as they are
            pass
        gaps = points[:, None, :] - points[None, :, :]
        lengths = np.hypot(gaps[..., 0], gaps[..., 1])
        i, j = np.unravel_index(np.argmax(lengths), lengths.shape)
        long = float(lengths[i, j])
        if long <= best.long_mm:
            continue
        across = np.array([-gaps[i, j, 1], gaps[i, j, 0]]) / long
        projected = points @ across
        best = AxialDiameters(long, float(projected.max() - projected.min()), int(z))
    return best


def nodule_type(hu: np.ndarray, mask: np.ndarray) -> tuple[NoduleType, float, np.ndarray]:
    """Type by HU on the nodule's core (its rim, one voxel in plane, is left out where the core is not
    empty: partial volume with the lung darkens it): the share of core voxels at or above ``SOLID_HU``
    decides (``SOLID_SHARE``, ``GROUND_GLASS_SHARE``). Returns the type, the share and the solid mask."""
    core = ndimage.binary_erosion(mask, structure=np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], bool))
    core = core if core.any() else mask
    share = float((hu[core] >= SOLID_HU).mean())
    solid = mask & (hu >= SOLID_HU)
    if share >= SOLID_SHARE:
        return "solid", share, solid
    if share <= GROUND_GLASS_SHARE and float(hu[mask].mean()) < SOLID_HU:
        return "ground-glass", share, solid
    return "part-solid", share, solid


def lung_rads(kind: NoduleType, size_mm: float, solid_mm: float | None = None) -> LungRads:
    """Lung-RADS v2022 size category (baseline screening) from the mean diameter ``size_mm`` and, for a
    part-solid nodule, the solid component's mean diameter ``solid_mm``."""
    if size_mm < 0 or (solid_mm is not None and solid_mm < 0):
        raise ValueError(f"size_mm and solid_mm must be non-negative, got {size_mm} / {solid_mm}")
    if kind == "solid":
        solid_steps: tuple[tuple[int, Literal["2", "3", "4A"]], ...] = ((6, "2"), (8, "3"), (15, "4A"))
        for limit, category in solid_steps:
            if size_mm < limit:
                return LungRads(category, f"solid, mean diameter {size_mm:.1f} mm < {limit} mm")
        return LungRads("4B", f"solid, mean diameter {size_mm:.1f} mm >= 15 mm")
    if kind == "ground-glass":
        if size_mm < 30:
            return LungRads("2", f"ground glass, mean diameter {size_mm:.1f} mm < 30 mm")
        return LungRads("3", f"ground glass, mean diameter {size_mm:.1f} mm >= 30 mm")
    if kind != "part-solid":
        raise ValueError(f"kind must be solid, part-solid or ground-glass, got {kind!r}")
    if size_mm < 6:
        return LungRads("2", f"part-solid, mean diameter {size_mm:.1f} mm < 6 mm")
    solid = solid_mm or 0.0
    part_solid_steps: tuple[tuple[int, Literal["3", "4A"]], ...] = ((6, "3"), (8, "4A"))
    for limit, category in part_solid_steps:
        if solid < limit:
            return LungRads(category, f"part-solid >= 6 mm, solid component {solid:.1f} mm < {limit} mm")
    return LungRads("4B", f"part-solid, solid component {solid:.1f} mm >= 8 mm")


def measure_nodule(
    mask: np.ndarray, spacing: tuple[float, float, float], hu: np.ndarray | None = None
) -> NoduleMeasures:
    """Measure a (Z, Y, X) bool nodule mask; ``hu`` (same shape, HU) adds density, type and Lung-RADS."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (Z, Y, X), got shape {mask.shape}")
    if len(spacing) != 3 or any(not math.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must be three positive mm values (z, y, x), got {spacing}")
    voxels = int(mask.sum())
    diameters = axial_diameters(mask, spacing)
    slices = int(mask.reshape(mask.shape[0], -1).any(1).sum())
    volume = voxels * float(np.prod(spacing))
    if hu is None or voxels == 0:
        return NoduleMeasures(voxels, volume, diameters, slices, None, None, None, None, None, None)
    if hu.shape != mask.shape:
        raise ValueError(f"hu shape {hu.shape} differs from mask shape {mask.shape}")
    kind, share, solid_mask = nodule_type(hu, mask)
    solid = axial_diameters(solid_mask, spacing) if kind == "part-solid" else None
    category = lung_rads(kind, diameters.mean_mm, None if solid is None else solid.mean_mm)
    values = hu[mask]
    return NoduleMeasures(
        voxels, volume, diameters, slices, float(values.mean()), float(values.max()), share, kind, solid, category
    )
