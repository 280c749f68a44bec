"""``RadiographSegmenter``: right and left lung fields in a frontal chest X-ray, with areas, checks and quality.

    seg = RadiographSegmenter.from_pretrained("xray-lung")
    labels = seg.apply("chest.dcm")            # (H, W) uint8: 1 right lung, 2 left lung (patient sides)
    result = seg.segment("chest.png")          # labels + areas + findings + quality (a SegmentationResult)

Steps: refuse what is not a radiograph (a volume, a CT/MR DICOM, pixel values in Hounsfield units);
run the model with the checkpoint's radiograph plan (percentiles, optional CLAHE, letterbox) and a
left-right flipped pass; keep the two largest lung fields (each at least a tenth of the larger) and
fill their holes; split right from left (by the two fields, or at the mask's centre when they touch);
measure areas in pixels and in cm^2 when the DICOM gives a pixel spacing; flag lateral views (from
the header, or lung fields of very unequal size) and images whose lung fields cover an implausible
share. The quality score is the flip agreement, halved when the anatomy is implausible (as for CT).

Sides: a frontal film is displayed with the patient's right on the image's left (PA and AP alike), so
the field on the image's left is the right lung unless the DICOM PatientOrientation says the columns run
towards the patient's right (a mirrored image); the report says which rule was used.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding
from lungseg.inference.core.checks import check_finite, raise_refusals
from lungseg.inference.core.domain import check_slices
from lungseg.inference.core.measure import measure
from lungseg.inference.core.pipeline import model_fields
from lungseg.inference.core.postprocess import PostprocessOptions
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.protocol import Choice
from lungseg.inference.core.quality import apply_plausibility, quality_scores
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.steps import model_masks, sides
from lungseg.inference.core.study import as_study
from lungseg.inference.xray.film_checks import (
    LUNG_PERCENT,
    RadiographOptions,
    area_notes,
    clean_fields,
    input_refusals,
    mirrored_sides,
    plausibility,
)
from lungseg.labels import SPLIT_LUNGS
from lungseg.preprocessing.radiograph import looks_like_hu, radiograph_display

FIXED_CLEAN_UP = "a chest film's clean-up is fixed (the two largest lung fields, holes filled)"


class RadiographSegmenter:
    """Lung fields of chest radiographs. ``predictor``: a model whose plan has intensity ``"xray"``;
    ``tta``: average a left-right flipped pass and score their agreement; ``name``: the model's name
    for reports; ``not_applied``: options given to ``replace`` that a film's segmentation cannot honour,
    named in a warning of every result."""

    lesions: tuple = ()  # the lesion models segment CT

    def __init__(
        self, predictor: Predictor, tta: bool = True, name: str | None = None, not_applied: tuple[str, ...] = ()
    ):
        if predictor.plan.intensity != "xray":
            raise ValueError(
                f"predictor: a radiograph model needs an 'xray' preprocessing plan, got {predictor.plan.intensity!r}"
            )
        self.predictor = predictor
        self.tta = tta
        self.name = name
        self.options = RadiographOptions()
        self.not_applied = not_applied

    @classmethod
    def from_pretrained(
        cls,
        name: str = "xray-lung",
        backend: str = "auto",
        threshold: float = 0.5,
        batch_size: int | None = None,
        tta: bool = True,
        device: str = "auto",
        precision: str = "auto",
    ) -> RadiographSegmenter:
        predictor = Predictor.load(
            name, backend=backend, threshold=threshold, batch_size=batch_size, device=device, precision=precision
        )
        return cls(predictor, tta=tta, name=str(name))

    def replace(self, **changes: Any) -> RadiographSegmenter:
        """A copy sharing the model with another ``tta``. CT post-processing options other than the
        defaults cannot apply to a film: each result then says so in an ``option-not-applied`` warning;
        lesion models are a ``ValueError`` (they segment CT)."""
        tta = changes.pop("tta", None)
        if changes.pop("lesions", None):
            raise ValueError("lesions: the lesion models segment CT, not chest X-rays")
        postprocess = changes.pop("postprocess", None)
        not_applied = [f"{name}={value!r}" for name, value in changes.items() if value is not None]
        if postprocess is not None:
            default = PostprocessOptions()
            not_applied += [
                f"{f.name}={getattr(postprocess, f.name)!r}"
                for f in fields(PostprocessOptions)
                if getattr(postprocess, f.name) != getattr(default, f.name)
            ]
        return RadiographSegmenter(
            self.predictor,
            self.tta if tta is None else tta,
            self.name,
            tuple(dict.fromkeys((*self.not_applied, *not_applied))),
        )

    def choose(self, study) -> Choice:
        """This segmenter for every study (``routing.AutoSegmenter`` chooses between CT and X-ray)."""
        return Choice(self)

    def report_fields(self) -> dict[str, Any]:
        return model_fields(self.predictor, self.tta, self.options.to_dict())

    def apply(self, image) -> np.ndarray:
        """Path or (H, W) array -> (H, W) uint8 labels (0 background, 1 right lung, 2 left lung)."""
        return np.asarray(self.segment(image).labels)

    def segment(self, image, source: str | Path | None = None) -> SegmentationResult:
        """Checks, model, clean-up, sides, areas and quality; ``InputError`` when the input is refused."""
        study = as_study(image, source)
        raise_refusals(input_refusals(study), study.source)
        picture, findings = check_finite(np.asarray(study.image), expects_hu=False)
        raise_refusals(findings, study.source)
        if looks_like_hu(picture):
            raise_refusals([catalogue.HU_FOR_XRAY(low=float(picture.min()))], study.source)
        radiograph = study.radiograph
        if radiograph is not None and radiograph.lateral:
            findings.append(catalogue.LATERAL_HEADER(view=radiograph.view))

        raw, agreement, confidence = model_masks(self.predictor, [picture], self.tta, [study.source])
        mask = clean_fields(raw[0])
        labels, split_findings = sides(mask[None])
        mirrored = radiograph is not None and radiograph.row_direction == "R"
        if mirrored:
            labels = mirrored_sides(labels)
        spacing = radiograph.pixel_spacing_mm[::-1] if radiograph and radiograph.pixel_spacing_mm else None
        measurements = measure(labels, SPLIT_LUNGS, None, spacing, is_volume=False)
        findings += plausibility(labels[0])
        findings += split_findings
        domain = check_slices(self.predictor, self.name, picture[None], labels)
        findings += domain.findings() if domain else []
        findings.append(
            catalogue.SIDES_FROM_HEADER(towards="right" if mirrored else "left")
            if radiograph is not None and radiograph.row_direction in ("L", "R")
            else catalogue.SIDES_STANDARD()
        )
        findings += area_notes(radiograph)
        findings += self._not_applied()
        raise_refusals(findings, study.source)
        quality = apply_plausibility(quality_scores(mask[None], agreement, confidence), findings)
        display = radiograph_display(picture)[None]
        models = (self.name,) if self.name else ()
        return SegmentationResult(
            study, labels[0], labels, display, None, SPLIT_LUNGS, measurements, quality, findings, None, models
        )

    def screen(self, image, source: str | Path | None = None) -> SegmentationResult:
        """The web app's quick look before the job: the same checks and model without the flipped pass."""
        return self.replace(tta=False).segment(image, source)

    def _not_applied(self) -> list[Finding]:
        if not self.not_applied:
            return []
        return [catalogue.OPTION_NOT_APPLIED(options=", ".join(self.not_applied), why=FIXED_CLEAN_UP)]


__all__ = ["LUNG_PERCENT", "RadiographOptions", "RadiographSegmenter"]
