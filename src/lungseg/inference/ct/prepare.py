"""The CT segmenter's input stage: the checks before the model, the volume in canonical LPS order, and
the way back to the input's grid.

A volume is reoriented to LPS (axial slices, patient right on the image left, inferior slice first),
resampled to an axial grid if it is oblique or non-axial; a 2D slice is a volume of one slice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lungseg.findings import Finding
from lungseg.inference.core.checks import (
    check_finite,
    check_intensity,
    check_modality,
    check_orientation,
    check_xray_like,
    raise_refusals,
)
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.reorient import from_canonical, to_canonical
from lungseg.inference.core.study import Study

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class Prepared:
    """A study ready for the lung model: ``hu`` (Z, Y, X) with non-finite values filled, the ``model``
    that runs it, whether it ``expects_hu``, the ``canonical`` LPS image of a volume (None for a slice),
    the ``spacing`` (x, y, z) mm when known and the findings so far."""

    hu: np.ndarray
    model: Predictor
    expects_hu: bool
    canonical: sitk.Image | None
    spacing: tuple[float, float, float] | None
    findings: list[Finding]


def prepare(study: Study, lung_model: Callable[[np.ndarray], Predictor]) -> Prepared:
    """Input checks (modality, orientation, finite values, HU, X-ray-like slices), refusing what the CT
    model cannot segment (``InputError``); ``lung_model(stored)`` picks the model for the stored values."""
    import SimpleITK as sitk  # a heavy import the ONNX-only slice path does without until here

    findings = list(study.findings) + check_modality(study.modality)
    raise_refusals(findings, study.source)
    canonical = None
    if study.is_volume:
        findings += check_orientation(study.volume.GetDirection())
        canonical = to_canonical(study.volume, study.source)
        stored = sitk.GetArrayFromImage(canonical)
    else:
        picture = np.asarray(study.image)
        stored = (picture[..., 0] if picture.ndim == 3 else picture)[None]  # RGB: refused below with the reason
    model = lung_model(stored)
    expects_hu = model.plan.intensity == "hu"
    hu, finite_findings = check_finite(stored, expects_hu)
    findings += finite_findings
    raise_refusals(findings, study.source)
    findings += check_intensity(hu, expects_hu, is_volume=study.is_volume)
    findings += [] if study.is_volume else check_xray_like(hu[0])
    raise_refusals(findings, study.source)
    spacing = canonical.GetSpacing() if canonical is not None and study.spacing_known else None
    return Prepared(hu, model, expects_hu, canonical, spacing, findings)


def on_input_grid(labels: np.ndarray, canonical: sitk.Image | None, study: Study) -> sitk.Image | np.ndarray:
    """Canonical (Z, Y, X) labels -> a SimpleITK image on the input's grid, or (H, W) for a slice."""
    if canonical is None:
        return labels[0]
    import SimpleITK as sitk

    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(canonical)
    return from_canonical(label_image, study.volume)


def body_midline(hu: np.ndarray) -> float | None:
    """Mean column of soft tissue and bone (> -300 HU): the body's left-right centre."""
    body = np.asarray(hu[:, ::4, ::4]) > -300
    if not body.any():
        return None
    return float(np.nonzero(body)[-1].mean() * 4)
