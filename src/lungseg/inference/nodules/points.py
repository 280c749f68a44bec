"""Nodules at a user's points as a ``Segmenter`` (``core.protocol``): the fourth kind of segmenter beside
CT, X-ray and automatic routing, so ``run_study`` (the CLI runner, the Python API, the web worker) runs it
like the others and its result is a ``SegmentationResult`` with the report's nodule rows.

``NoduleAtPoints(lungs, nodules, points)``: ``lungs`` (a CT segmenter, e.g.
``routing.load.load_segmenter("ct-lung")``) segments and checks the study; then ``nodules`` (a
``NoduleSegmenter``) follows the nodule at each point (x, y, z voxel indices of the stored array, as
``lungseg nodule --at``) slice by slice. The nodule becomes label 7 (``labels.NODULE``) in the one label
map and a ``NoduleRow`` (``how`` "point"); a point with no nodule under it is a row with ``found`` False
and the reason, never an error. A point outside the scan is an ``InputError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lungseg.errors import InputError
from lungseg.inference.core.measure import measure
from lungseg.inference.core.nodule_rows import POINT, NoduleRow
from lungseg.inference.core.protocol import Choice, Segmenter
from lungseg.inference.core.reorient import to_canonical
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.study import Study
from lungseg.inference.nodules.seeded import NoduleResult, NoduleSegmenter, Seed
from lungseg.inference.nodules.study import aerated_note, stored_array
from lungseg.labels import NODULE


class NoduleAtPoints:
    """``name``: the nodule model's name in the result's ``models`` (after the lung model)."""

    def __init__(
        self,
        lungs: Segmenter,
        nodules: NoduleSegmenter,
        points: tuple[tuple[int, int, int], ...] = (),
        name: str = "lung-nodule",
    ):
        for point in points:
            if len(point) != 3:
                raise ValueError(f"points: give (x, y, z) voxel indices, got {point!r}")
        self.lungs, self.nodules, self.points, self.name = lungs, nodules, tuple(points), name

    @property
    def tta(self) -> bool:
        return self.lungs.tta

    @property
    def lesions(self) -> tuple:
        return self.lungs.lesions

    def choose(self, study: Study) -> Choice:
        return Choice(self)

    def screen(self, image: Any, source: str | Path | None = None) -> SegmentationResult:
        """The lung segmenter's quick checks (the points are measured by ``segment`` only)."""
        return self.lungs.screen(image, source)

    def replace(self, **changes: Any) -> NoduleAtPoints:
        """``points`` and ``nodules`` here; every other change goes to the lung segmenter."""
        points = changes.pop("points", self.points)
        nodules = changes.pop("nodules", self.nodules)
        return NoduleAtPoints(self.lungs.replace(**changes) if changes else self.lungs, nodules, points, self.name)

    def report_fields(self) -> dict[str, Any]:
        return {**self.lungs.report_fields(), "nodule_points": [list(point) for point in self.points]}

    def segment(self, image: Any, source: str | Path | None = None) -> SegmentationResult:
        """The lungs, then the nodule at each point (module docstring)."""
        result = self.lungs.segment(image, source)
        if not self.points:
            return result
        study = result.study
        array, spacing, in_hu, _ = stored_array(study)
        found = [self._at(study, array, spacing, in_hu, point) for point in self.points]
        nodule = np.zeros(array.shape, bool)
        for one in found:
            nodule |= one.mask
        labels = _with_nodule(_stored_labels(result), nodule)
        canonical = _with_nodule(result.canonical_labels, _canonical(nodule, study))
        classes = (*result.classes, NODULE)
        in_canonical_hu = result.canonical_hu if in_hu else None
        measurements = measure(canonical, classes, in_canonical_hu, result.canonical_spacing, is_volume=study.is_volume)
        rows = tuple(_row(one) for one in found)
        return SegmentationResult(
            study,
            _on_input(labels, result.labels),
            canonical,
            result.canonical_hu,
            result.canonical_spacing,
            classes,
            measurements,
            result.quality,
            result.findings,
            result.lesions,
            (*result.models, self.name),
            (*(result.nodules or ()), *rows),
        )

    def _at(self, study: Study, array: np.ndarray, spacing, in_hu: bool, point: tuple[int, int, int]) -> NoduleResult:
        x, y, z = point
        seed = Seed(z, y, x)
        try:
            seed.check(array.shape)
        except ValueError as error:
            raise InputError(study.source, str(error)) from None
        return self.nodules.segment(array, spacing, seed, hu=in_hu)


def _row(found: NoduleResult) -> NoduleRow:
    seed, notes = found.seed, list(found.warnings)
    if not found.found:
        notes.insert(0, found.reason or "no nodule found at or near the point")
    measures = {} if found.measures is None else found.measures.to_dict()
    if why := aerated_note(found):
        notes.append(why)
    return NoduleRow(POINT, (seed.x, seed.y, seed.z), found.confidence, measures, found.found, tuple(notes))


def _stored_labels(result: SegmentationResult) -> np.ndarray:
    labels = result.labels
    if isinstance(labels, np.ndarray):
        return labels[None] if labels.ndim == 2 else labels
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(labels)


def _with_nodule(labels: np.ndarray, nodule: np.ndarray) -> np.ndarray:
    if labels.shape != nodule.shape:
        raise ValueError(f"the nodule mask {nodule.shape} does not match the label map {labels.shape}")
    return np.where(nodule, np.uint8(NODULE.value), labels).astype(np.uint8)


def _canonical(nodule: np.ndarray, study: Study) -> np.ndarray:
    """The stored-grid mask on the canonical grid (the same array for a slice or an LPS volume)."""
    if not study.is_volume:
        return nodule
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(nodule.astype(np.float32))
    image.CopyInformation(study.image)
    return sitk.GetArrayFromImage(to_canonical(image, study.source)) > 0.5


def _on_input(labels: np.ndarray, like) -> Any:
    if isinstance(like, np.ndarray):
        return labels[0] if like.ndim == 2 else labels
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(like)
    return image
