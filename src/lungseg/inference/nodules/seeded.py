"""Point to nodule: the ``lung-nodule`` model segments the nodule under a point, slice by slice.

The model was trained on 128x128 axial crops at their scans' own scale (LIDC-IDRI, about 0.6-0.9 mm per
pixel). On the seed's slice a 128-pixel crop at ``MODEL_MM`` per pixel is cut around the point (resampled
from the scan's pixel spacing; outside the image it is air), the model's probability map is thresholded,
and the component under the point (or the nearest one within ``reach_mm``) is the nodule there. The
nodule is then followed up and down: each next slice's crop is centred on the nodule's centre in the
slice before, and the components that overlap the slice before continue it, until none does or the
nodule spans ``max_extent_mm``. The mask is mapped back to the scan's own grid.

Volumes are (Z, Y, X) arrays with ``spacing`` (z, y, x) in mm; values are HU (or the gray levels of an
8-bit export, which the model's stored plan recognises). A 2D slice is a volume of one slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from lungseg.inference.core.predictor import Predictor
from lungseg.inference.nodules.measure import NoduleMeasures, measure_nodule

MODEL_MM = 0.7  # mm per pixel of the model's crops (the middle of LIDC's 0.6-0.9 mm)
CROP = 128  # the model's crop, in pixels
AIR_HU = -1000.0


@dataclass(frozen=True)
class Seed:
    """A point in voxel indices of the (Z, Y, X) array."""

    z: int
    y: int
    x: int

    def check(self, shape: tuple[int, ...]) -> None:
        if not all(0 <= v < n for v, n in zip((self.z, self.y, self.x), shape)):
            raise ValueError(
                f"seed (x={self.x}, y={self.y}, z={self.z}) lies outside the scan of shape (z, y, x) {tuple(shape)}"
            )


@dataclass(frozen=True, eq=False)
class NoduleResult:
    """``mask``: (Z, Y, X) bool on the scan's grid; ``found``: a nodule was under (or near) the seed;
    ``reason``: why not; ``confidence``: the mean model probability inside the nodule (0..1)."""

    seed: Seed
    mask: np.ndarray
    found: bool
    confidence: float
    measures: NoduleMeasures | None
    reason: str | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "seed": {"x": self.seed.x, "y": self.seed.y, "z": self.seed.z},
            "found": self.found,
            "reason": self.reason,
            "confidence": round(self.confidence, 3),
            **({} if self.measures is None else self.measures.to_dict()),
            "warnings": list(self.warnings),
        }


class NoduleSegmenter:
    """``predictor``: a binary ``Predictor`` of nodule crops (the shipped ``lung-nodule``)."""

    def __init__(self, predictor, mm_per_pixel: float = MODEL_MM, reach_mm: float = 5.0, max_extent_mm: float = 80.0):
        if predictor.channels != 1:
            raise ValueError(f"a nodule model has one output channel, this one has {predictor.channels}")
        if mm_per_pixel <= 0 or reach_mm < 0 or max_extent_mm <= 0:
            raise ValueError("mm_per_pixel and max_extent_mm must be positive and reach_mm non-negative")
        self.predictor = predictor
        self.mm_per_pixel = mm_per_pixel
        self.reach_mm = reach_mm
        self.max_extent_mm = max_extent_mm

    @classmethod
    def load(cls, model: str = "lung-nodule", backend: str = "auto", **kwargs) -> NoduleSegmenter:
        return cls(Predictor.load(model, backend=backend), **kwargs)

    def segment(
        self, volume: np.ndarray, spacing: tuple[float, float, float], seed: Seed, hu: bool = True
    ) -> NoduleResult:
        """The nodule at ``seed`` in ``volume`` (HU when ``hu``; else 8-bit gray levels: no density,
        type or Lung-RADS)."""
        volume = np.asarray(volume)
        if volume.ndim == 2:
            volume = volume[None]
        if volume.ndim != 3:
            raise ValueError(f"volume must be (Z, Y, X) or (Y, X), got shape {volume.shape}")
        seed.check(volume.shape)
        fill = AIR_HU if hu else 0.0
        mask = np.zeros(volume.shape, bool)
        first, probability = self._slice(volume[seed.z], spacing, (seed.y + 0.5, seed.x + 0.5), fill)
        component = _under_seed(first, seed, self.reach_mm / min(spacing[1:]))
        if component is None:
            return NoduleResult(seed, mask, False, 0.0, None, "no nodule found at or near the point")
        mask[seed.z] = component
        probabilities = [probability[component]]
        most = max(1, int(self.max_extent_mm / spacing[0] / 2))
        for step in (1, -1):
            previous = component
            for z in range(seed.z + step, seed.z + step * (most + 1), step):
                if not 0 <= z < volume.shape[0]:
                    break
                centre_y, centre_x = ndimage.center_of_mass(previous)
                centre = (float(centre_y) + 0.5, float(centre_x) + 0.5)
                found, probability = self._slice(volume[z], spacing, centre, fill)
                labels, count = ndimage.label(found)
                touching = np.unique(labels[previous & (labels > 0)])
                if not len(touching):
                    break
                previous = np.isin(labels, touching)
                mask[z] = previous
                probabilities.append(probability[previous])
        confidence = float(np.concatenate(probabilities).mean())
        return NoduleResult(seed, mask, True, confidence, measure_nodule(mask, spacing, volume if hu else None))

    def _slice(
        self, section: np.ndarray, spacing, centre_yx: tuple[float, float], fill: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The nodule mask and probability on one slice's own grid, from the model's crop at ``centre_yx``
        (continuous pixel coordinates, pixel corners at integers)."""
        sy, sx = self.mm_per_pixel / spacing[1], self.mm_per_pixel / spacing[2]
        half = CROP / 2
        # crop pixel (u, v) -> slice (x, y): x = cx + (u + 0.5 - half) * sx - 0.5 (pixel centres)
        to_slice = np.array(
            [[sx, 0.0, centre_yx[1] + (0.5 - half) * sx - 0.5], [0.0, sy, centre_yx[0] + (0.5 - half) * sy - 0.5]]
        )
        source = section.astype(np.float32) if section.dtype != np.uint8 else section
        crop = cv2.warpAffine(
            source,
            to_slice,
            (CROP, CROP),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=fill,
        )
        probability = self.predictor.probabilities([crop], tta=True)[0].astype(np.float32)
        back = cv2.warpAffine(
            probability,
            to_slice,
            (section.shape[1], section.shape[0]),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
        return back > self.predictor.threshold, back


def _under_seed(found: np.ndarray, seed: Seed, reach_px: float) -> np.ndarray | None:
    """The component under the seed, else the nearest within ``reach_px`` pixels, else None."""
    labels, count = ndimage.label(found)
    if not count:
        return None
    if labels[seed.y, seed.x]:
        return labels == labels[seed.y, seed.x]
    distance, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    if distance[seed.y, seed.x] > reach_px:
        return None
    return labels == labels[iy[seed.y, seed.x], ix[seed.y, seed.x]]
