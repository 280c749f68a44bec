"""Lesions inside the lungs: run lesion models (COVID-19 infection, ground glass / consolidation, tumour)
within the lung field and clean their output, on the same canonical (Z, Y, X) grid as the lung labels.

Steps per lesion model (``LesionModel.find``):

1. Input as the model was trained: HU input goes through the export window in the model's plan (8-bit
   lesion models); a model trained on lung-cropped exports (``plan.field_of_view == "lungs"``) sees each
   slice cropped to its lung field's bounding box plus a margin, as its training images were.
2. The model's labels (binary: probability > threshold; K-class: argmax), with flip TTA when asked.
3. Clean-up (``clean_lesions``): components mostly outside the lung field (lungs with their holes filled
   per slice, grown by ``field_margin_mm``) are dropped, the rest is clipped to the field, and components
   below the minimum size (mm^2 on a slice, mL in a volume, or pixels when the spacing is unknown) go.

Lesion voxels then replace the lung label under them in the one label map (``lungseg.labels`` table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lungseg.inference.core.predictor import Predictor
from lungseg.labels import AIRWAY, LabelClass, lesion_classes


@dataclass(frozen=True)
class LesionOptions:
    """``min_area_mm2`` (slices with pixel spacing), ``min_volume_ml`` (volumes with spacing) and
    ``min_pixels`` (no spacing): smaller lesion components are removed. ``field_margin_mm`` (or
    ``field_margin_pixels`` without spacing): how far beyond the lung mask a lesion may reach (dense
    consolidation and tumours at the pleura are often left out of the lung mask)."""

    min_area_mm2: float = 5.0
    min_volume_ml: float = 0.02
    min_pixels: int = 10
    field_margin_mm: float = 5.0
    field_margin_pixels: int = 5
    crop_margin: float = 0.04  # lung-cropped models: margin around the lung box, as a share of its size


MIN_DOMAIN_FIT = 500  # a lesion model's in-domain check joins the verdict when fitted on this many images


class LesionModel:
    """A lesion predictor with the label classes its channels take in the combined label map."""

    def __init__(self, predictor: Predictor, name: str, taken: tuple[LabelClass, ...] = ()):
        self.predictor, self.name = predictor, name
        self.classes = lesion_classes(predictor.card.class_names, taken)

    def find(
        self, stored: np.ndarray, lungs: np.ndarray, spacing, options: LesionOptions, tta: bool = False
    ) -> np.ndarray:
        """(Z, Y, X) stored image (HU or 8-bit) and lung labels -> (Z, Y, X) uint8 lesion labels (the
        classes' values, 0 elsewhere), cleaned (module docstring)."""
        values = np.array([0, *(label.value for label in self.classes)], np.uint8)
        found = np.zeros(stored.shape, np.uint8)
        crop = self.predictor.plan.field_of_view == "lungs"
        boxes = {
            z: _lung_box(lungs[z], options.crop_margin) if crop else (slice(None), slice(None))
            for z in range(len(stored))
        }
        boxes = {z: box for z, box in boxes.items() if box is not None}  # no lung on a slice: nothing to look in
        crops = [stored[z][box] for z, box in boxes.items()]
        for (z, box), labels in zip(boxes.items(), self._labels(crops, tta)):  # the predictor batches them
            found[z][box] = values[labels]
        return clean_lesions(found, lungs > 0, spacing, options)

    def domain(self, stored: np.ndarray, lungs: np.ndarray, options: LesionOptions):
        """The lesion model's in-domain check (``core.domain.check_slices``) on the crops it sees of the
        slices with the most lung, or None: no lung, no stored check, or one fitted on fewer than
        ``MIN_DOMAIN_FIT`` images (the 50-slice COVID-19 checks flagged 70 % of other COVID-19 volumes'
        slices; benchmarks/README.md)."""
        from lungseg.inference.core.domain import check_slices

        check = self.predictor.domain
        if check is None or check.n_train < MIN_DOMAIN_FIT or not lungs.any():
            return None

        def lung_box(z: int) -> tuple[slice, slice]:  # the measured slices hold lung: never the whole slice
            return _lung_box(lungs[z], options.crop_margin) or (slice(None), slice(None))

        crop = self.predictor.plan.field_of_view == "lungs"
        return check_slices(self.predictor, self.name, stored, lungs, lung_box if crop else None)

    def _labels(self, images: list[np.ndarray], tta: bool) -> list[np.ndarray]:
        if not images:
            return []
        if self.predictor.channels > 1:
            return self.predictor.classes(images, tta=tta)
        return [mask.astype(np.uint8) for mask in self.predictor.predict(images, tta=tta)]


def _lung_box(lungs: np.ndarray, margin: float) -> tuple[slice, slice] | None:
    rows, cols = np.flatnonzero(lungs.any(1)), np.flatnonzero(lungs.any(0))
    if rows.size == 0:
        return None
    pad_y = int(round(margin * (rows[-1] - rows[0] + 1)))
    pad_x = int(round(margin * (cols[-1] - cols[0] + 1)))
    return (slice(max(rows[0] - pad_y, 0), rows[-1] + pad_y + 1), slice(max(cols[0] - pad_x, 0), cols[-1] + pad_x + 1))


def lung_field(lungs: np.ndarray, spacing, options: LesionOptions) -> np.ndarray:
    """(Z, Y, X) bool lungs -> the region lesions may occupy: holes filled per slice, grown in-plane by
    the margin (mm with spacing, pixels without)."""
    from scipy import ndimage

    radius = options.field_margin_pixels if not spacing else max(1, int(round(options.field_margin_mm / spacing[0])))
    disk = np.hypot(*np.mgrid[-radius : radius + 1, -radius : radius + 1]) <= radius
    field = np.zeros_like(lungs)
    for z, plane in enumerate(lungs):
        if plane.any():
            field[z] = ndimage.binary_dilation(ndimage.binary_fill_holes(plane), disk)
    return field


def clean_lesions(found: np.ndarray, lungs: np.ndarray, spacing, options: LesionOptions) -> np.ndarray:
    """(Z, Y, X) lesion labels + bool lungs -> labels without components mostly (>= half) outside the
    lung field, clipped to it, and without components below the minimum size. Components are 3D in a
    volume (Z > 1), 2D on a slice; all lesion classes together form a component."""
    from scipy import ndimage

    field = lung_field(lungs, spacing, options)
    structure = component_structure(len(found) > 1)
    components, count = ndimage.label(found > 0, structure)
    if not count:
        return found
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    inside = np.bincount(components.ravel(), weights=field.ravel(), minlength=count + 1)
    keep = (inside >= 0.5 * sizes) & (inside >= minimum_voxels(spacing, len(found) > 1, options))
    keep[0] = False
    cleaned = np.where(keep[components] & field, found, 0).astype(np.uint8)
    return cleaned


def component_structure(is_volume: bool) -> np.ndarray:
    """Full connectivity: 26 neighbours in a volume, 8 within the slice otherwise."""
    structure = np.zeros((3, 3, 3), bool)
    structure[:] = is_volume
    structure[1] = True
    return structure


def minimum_voxels(spacing, is_volume: bool, options: LesionOptions) -> float:
    """The minimum component size in voxels: from mm^2 / mL with spacing, ``min_pixels`` without."""
    if not spacing:
        return float(options.min_pixels)
    if is_volume:
        return options.min_volume_ml * 1000.0 / float(np.prod(spacing))
    return options.min_area_mm2 / float(spacing[0] * spacing[1])


def merge_lesions(lungs: np.ndarray, lesions: list[np.ndarray]) -> np.ndarray:
    """Lung labels with each lesion map's voxels on top (later maps win where two overlap); airway voxels
    (label ``AIRWAY``: trachea and bronchi, air by definition) are never painted as a lesion."""
    merged = lungs.copy()
    airway = lungs == AIRWAY.value
    for found in lesions:
        paint = (found > 0) & ~airway
        merged[paint] = found[paint]
    return merged
