"""Measurements of each labelled structure and of all of them together, from a label map and the CT in HU.

Per structure: voxel count, volume (mL, a volume with known spacing) or area (cm^2, a slice with known
pixel spacing), mean HU, the percent of voxels below -950 HU (the usual emphysema index, LAA-950) and
the percent from -600 to -250 HU (high-attenuation area, HAA, an index of interstitial change).
Structures are keyed by their ``lungseg.labels`` class, so lungs, lesion classes, airways and an X-ray's
lungs share one type; the total leaves the airways out (they are not lung). Adding a measurement is one
field of ``RegionMeasurement`` and one line of ``_measure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from lungseg.labels import AIRWAY, LabelClass

EMPHYSEMA_HU = -950.0
HIGH_ATTENUATION_HU = (-600.0, -250.0)


@dataclass(frozen=True)
class RegionMeasurement:
    """One structure (or the union of all). ``None`` means not measurable: no spacing, or no HU/voxels.
    A field's report key is its name unless its metadata gives one."""

    voxels: int
    volume_ml: float | None = None
    area_cm2: float | None = None
    mean_hu: float | None = None
    percent_below_950_hu: float | None = field(default=None, metadata={"key": "percent_below_-950_hu"})
    percent_600_to_250_hu: float | None = field(default=None, metadata={"key": "percent_-600_to_-250_hu"})

    def to_dict(self) -> dict:
        return {
            f.metadata.get("key", f.name): getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @classmethod
    def from_dict(cls, values: dict) -> RegionMeasurement:
        arguments: dict[str, Any] = {f.name: values.get(f.metadata.get("key", f.name)) for f in fields(cls)}
        return cls(**arguments)


@dataclass(frozen=True)
class Measurements:
    """``regions``: (label class, its measurement) for every class of the label set, in its order;
    ``total``: all labelled voxels together but the airways (lungs and the lesions inside them)."""

    regions: tuple[tuple[LabelClass, RegionMeasurement], ...]
    total: RegionMeasurement

    def of(self, label: LabelClass) -> RegionMeasurement | None:
        return next((region for known, region in self.regions if known == label), None)

    def to_dict(self) -> dict:
        """``{"right_lung": {...}, "left_lung": {...}, "total": {...}}`` (keys from the label names)."""
        return {**{label.key: region.to_dict() for label, region in self.regions}, "total": self.total.to_dict()}


def measure(
    labels: np.ndarray,
    classes: Sequence[LabelClass],
    hu: np.ndarray | None,
    spacing: tuple[float, ...] | None,
    is_volume: bool,
) -> Measurements:
    """``labels``: (Z, Y, X) label map; ``hu``: the CT in HU on the same grid (or None); ``spacing``:
    (x, y[, z]) in mm or None when unknown; ``is_volume``: volumes in mL, else areas in cm^2."""
    voxel = float(np.prod(spacing)) if spacing else None
    regions = tuple((label, _measure(labels == label.value, hu, voxel, is_volume)) for label in classes)
    return Measurements(regions, _measure((labels > 0) & (labels != AIRWAY.value), hu, voxel, is_volume))


def _measure(region: np.ndarray, hu: np.ndarray | None, voxel: float | None, is_volume: bool) -> RegionMeasurement:
    count = int(region.sum())
    values = hu[region] if hu is not None and count else None
    return RegionMeasurement(
        voxels=count,
        volume_ml=round(count * voxel / 1000.0, 1) if voxel is not None and is_volume else None,
        area_cm2=round(count * voxel / 100.0, 2) if voxel is not None and not is_volume else None,
        mean_hu=round(float(values.mean(dtype=np.float64)), 1) if values is not None else None,
        percent_below_950_hu=round(100.0 * float((values < EMPHYSEMA_HU).mean()), 2) if values is not None else None,
        percent_600_to_250_hu=round(
            100.0 * float(((values >= HIGH_ATTENUATION_HU[0]) & (values <= HIGH_ATTENUATION_HU[1])).mean()), 2
        )
        if values is not None
        else None,
    )
