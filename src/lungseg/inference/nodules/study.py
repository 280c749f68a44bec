"""``lungseg nodule``: nodules at the user's points in a CT study, with the lungs around them in one
label map (lungs 1/2, nodule 7: ``lungseg.labels``), a JSON report and an overlay per nodule.

Points are voxel indices X,Y,Z of the stored image (column, row, slice: what a viewer shows as i, j, k)
or patient coordinates in mm (DICOM LPS), converted through the image's geometry. The stored slices must
be axial: the nodule is followed slice by slice in the axial plane.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lungseg import findings as catalogue
from lungseg.errors import InputError
from lungseg.inference.core.protocol import Segmenter
from lungseg.inference.core.study import Study, load_study
from lungseg.inference.nodules.candidates import Candidates, find_candidates, search_models, search_sensitivity
from lungseg.inference.nodules.growth import dicom_date
from lungseg.inference.nodules.seeded import NoduleResult, NoduleSegmenter, Seed
from lungseg.labels import NODULE, SPLIT_LUNGS
from lungseg.preprocessing.intensity import HU, intensity_kind

ASSUMED_MM = 0.7  # pixel spacing assumed for a 2D picture without one (the model's own scale)
AERATED_HU = -500.0  # a "nodule" whose mean is below this is mostly aerated lung: flagged, not trusted


@dataclass(frozen=True, eq=False)
class NoduleStudy:
    """The nodules found at the points, on the study's stored (Z, Y, X) grid; ``lungs`` the lung labels
    there (None when they were not segmented, ``lung_note`` says why)."""

    study: Study
    array: np.ndarray
    spacing: tuple[float, float, float]
    in_hu: bool
    nodules: tuple[NoduleResult, ...]
    lungs: np.ndarray | None
    lung_note: str | None
    warnings: tuple[str, ...]
    candidates: Candidates | None = None

    def label_map(self) -> np.ndarray:
        """(Z, Y, X) uint8: the lung labels with each nodule as ``NODULE``."""
        labels = np.zeros(self.array.shape, np.uint8) if self.lungs is None else self.lungs.astype(np.uint8)
        for nodule in self.nodules:
            labels[nodule.mask] = NODULE.value
        for candidate in self.candidates.found if self.candidates else ():
            labels[candidate.mask] = NODULE.value
        return labels

    def study_date(self):
        return dicom_date(self.study.dicom_files)


def parse_point(text: str, option: str = "--at") -> tuple[float, ...]:
    """ "X,Y,Z" (or "X,Y" for a 2D picture) -> numbers; ValueError naming the option otherwise."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 3):
        raise ValueError(f"{option} {text!r}: give X,Y,Z (or X,Y for a 2D picture) as numbers")
    return values


def stored_array(study: Study) -> tuple[np.ndarray, tuple[float, float, float], bool, tuple[str, ...]]:
    """The study as a (Z, Y, X) array in stored order, its spacing (z, y, x) mm, whether it is HU, and
    warnings (an assumed spacing)."""
    if study.is_volume:
        import SimpleITK as sitk  # deferred: heavy, only volumes need it

        direction = np.array(study.volume.GetDirection()).reshape(3, 3)
        if abs(direction[2, 2]) < 0.9:
            raise InputError(study.source, "the stored slices are not axial; nodules are followed in axial slices")
        sx, sy, sz = study.volume.GetSpacing()
        return sitk.GetArrayFromImage(study.volume), (sz, sy, sx), True, ()
    image = np.asarray(study.image)
    if image.ndim != 2:
        raise InputError(study.source, f"a slice must be a 2D gray image, got shape {image.shape}")
    spacing = None
    if study.radiograph is None and study.dicom_files:
        import pydicom  # deferred: a DICOM slice's pixel spacing

        spacing = getattr(pydicom.dcmread(study.dicom_files[0], stop_before_pixels=True), "PixelSpacing", None)
    if spacing is None:
        warning = f"no pixel spacing: {ASSUMED_MM} mm per pixel assumed (sizes scale with the true spacing)"
        return image[None], (1.0, ASSUMED_MM, ASSUMED_MM), intensity_kind(image) == HU, (warning,)
    return image[None], (1.0, float(spacing[0]), float(spacing[1])), intensity_kind(image) == HU, ()


def to_seed(study: Study, point: tuple[float, ...], in_mm: bool) -> Seed:
    """A voxel-index or patient-mm point -> ``Seed`` (Z, Y, X indices of the stored array)."""
    if in_mm:
        if not study.is_volume or len(point) != 3:
            raise ValueError("--at-mm needs a volume and X,Y,Z in mm")
        x, y, z = study.volume.TransformPhysicalPointToIndex(point)
        return Seed(int(z), int(y), int(x))
    x, y = int(round(point[0])), int(round(point[1]))
    return Seed(int(round(point[2])) if len(point) == 3 else 0, y, x)


def aerated_note(result: NoduleResult) -> str | None:
    """The warning for a "nodule" at a point that is mostly aerated lung (mean under ``AERATED_HU``), else None."""
    mean = result.measures.mean_hu if result.measures is not None else None
    if mean is None or mean >= AERATED_HU:
        return None
    return f"mostly aerated lung (mean {mean:.0f} HU): probably not a nodule; check the point"


def segment_nodules(
    source: str | Path | Study,
    points: list[tuple[float, ...]],
    in_mm: bool = False,
    segmenter: NoduleSegmenter | None = None,
    lung_model: Segmenter | None = None,
    candidates: bool = False,
) -> NoduleStudy:
    """The nodule at each point (``NoduleSegmenter``), the lungs (``lung_model``: a loaded lung segmenter,
    e.g. ``routing.load.load_segmenter("ct-lung")``; None: none) and with ``candidates`` the automatic
    candidates inside the lungs (``find_candidates``)."""
    if isinstance(lung_model, str):  # the package sits below the CT segmenter: it takes one, loaded
        raise TypeError(f"lung_model: give a loaded lung segmenter, not the name {lung_model!r}")
    study = source if isinstance(source, Study) else load_study(source)
    array, spacing, in_hu, warnings = stored_array(study)
    segmenter = segmenter or NoduleSegmenter.load()
    nodules = []
    for point in points:
        seed = to_seed(study, point, in_mm)
        try:
            seed.check(array.shape)
        except ValueError as error:
            raise InputError(study.source, str(error)) from None
        result = segmenter.segment(array, spacing, seed, hu=in_hu)
        if why := aerated_note(result):
            result = replace(result, warnings=(*result.warnings, why))
        nodules.append(result)
    lungs, note = _lungs(study, lung_model)
    found = None
    if candidates and lungs is None:
        warnings = (*warnings, f"no automatic candidates: they are searched inside the lungs ({note})")
    elif candidates and lungs is not None:  # the same as `elif candidates`; mypy narrows lungs here
        name = Path(str(segmenter.predictor.source)).name.split(".")[0] if segmenter.predictor.source else "lung-nodule"
        searcher, name, confirm = search_models(segmenter.predictor, name)
        found = find_candidates(searcher, array, spacing, lungs > 0, hu=in_hu, confirm=confirm)
        limits = catalogue.NODULE_SEARCH_LIMITS(model=name, sensitivity=search_sensitivity(name))
        warnings = (*warnings, limits.message)
    return NoduleStudy(study, array, spacing, in_hu, tuple(nodules), lungs, note, warnings, found)


def _lungs(study: Study, model: Segmenter | None) -> tuple[np.ndarray | None, str | None]:
    if model is None:
        return None, "lungs not asked for"
    try:
        result = model.segment(study.image, study.source)
    except InputError as error:
        return None, f"lungs not segmented: {error}"
    labels = result.labels
    if not isinstance(labels, np.ndarray):  # a volume's labels: a SimpleITK image
        import SimpleITK as sitk

        labels = sitk.GetArrayFromImage(labels)
    labels = np.asarray(labels)
    labels = labels[None] if labels.ndim == 2 else labels
    kept = np.isin(labels, [c.value for c in SPLIT_LUNGS])
    return np.where(kept, labels, 0).astype(np.uint8), None
