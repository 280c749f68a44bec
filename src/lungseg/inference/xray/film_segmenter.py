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

from pathlib import Path

import numpy as np
from scipy import ndimage

from lungseg import findings as catalogue
from lungseg.findings import Finding
from lungseg.inference.core.checks import check_finite, raise_refusals
from lungseg.inference.core.measure import measure
from lungseg.inference.core.postprocess import LEFT_LUNG, RIGHT_LUNG, keep_largest_components, split_lungs
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.quality import apply_plausibility, quality_scores
from lungseg.inference.core.study import Study, as_study
from lungseg.inference.ct.segmenter import Choice, SegmentationResult
from lungseg.io.dicom_radiograph import RADIOGRAPH_MODALITIES
from lungseg.labels import SPLIT_LUNGS
from lungseg.preprocessing.radiograph import looks_like_hu, radiograph_display

LUNG_PERCENT = (8.0, 60.0)  # lung fields' share of a frontal chest film (Montgomery 512 px crops: 18-36 %)
MIN_SIDE_RATIO = 0.35  # smaller/larger lung field area on a frontal film (usual range 0.6-1.0)
MIN_FIELD_SHARE = 0.1  # a second field smaller than this share of the largest is noise


class RadiographSegmenter:
    """Lung fields of chest radiographs. ``predictor``: a model whose plan has intensity ``"xray"``;
    ``tta``: average a left-right flipped pass and score their agreement; ``name``: the model's name
    for reports."""

    def __init__(self, predictor: Predictor, tta: bool = True, name: str | None = None):
        if predictor.plan.intensity != "xray":
            raise ValueError(
                f"predictor: a radiograph model needs an 'xray' preprocessing plan, got {predictor.plan.intensity!r}"
            )
        self.predictor = predictor
        self.tta = tta
        self.name = name
        self.options = RadiographOptions()

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

    def replace(self, tta: bool | None = None, **ignored) -> RadiographSegmenter:
        """A copy sharing the model with another ``tta``; CT post-processing options do not apply."""
        return RadiographSegmenter(self.predictor, self.tta if tta is None else tta, self.name)

    def choose(self, study: Study) -> Choice:
        """This segmenter for every study (``routing.AutoSegmenter`` chooses between CT and X-ray)."""
        return Choice(self)

    def apply(self, image) -> np.ndarray:
        """Path or (H, W) array -> (H, W) uint8 labels (0 background, 1 right lung, 2 left lung)."""
        return self.segment(image).labels

    def segment(self, image, source: str | Path | None = None) -> SegmentationResult:
        """Checks, model, clean-up, sides, areas and quality; ``InputError`` when the input is refused."""
        study = as_study(image, source)
        raise_refusals(_input_refusals(study), study.source)
        picture, findings = check_finite(np.asarray(study.image), expects_hu=False)
        raise_refusals(findings, study.source)
        if looks_like_hu(picture):
            raise_refusals([catalogue.HU_FOR_XRAY(low=float(picture.min()))], study.source)
        radiograph = study.radiograph
        if radiograph is not None and radiograph.lateral:
            findings.append(catalogue.LATERAL_HEADER(view=radiograph.view))

        probability, agreement, confidence = self._probability(picture, study.source)
        mask = _clean(probability > self.predictor.threshold)
        labels, split_ok = split_lungs(mask[None])
        mirrored = radiograph is not None and radiograph.row_direction == "R"
        if mirrored:
            labels = np.where(labels == RIGHT_LUNG, LEFT_LUNG, np.where(labels == LEFT_LUNG, RIGHT_LUNG, 0)).astype(
                np.uint8
            )
        spacing = radiograph.pixel_spacing_mm[::-1] if radiograph and radiograph.pixel_spacing_mm else None
        measurements = measure(labels, SPLIT_LUNGS, None, spacing, is_volume=False)
        findings += _plausibility(labels[0])
        findings += [] if split_ok else [catalogue.LUNGS_JOINED()]
        findings.append(
            catalogue.SIDES_FROM_HEADER(towards="right" if mirrored else "left")
            if radiograph is not None and radiograph.row_direction in ("L", "R")
            else catalogue.SIDES_STANDARD()
        )
        findings += _area_notes(radiograph)
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

    def _probability(self, picture: np.ndarray, source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(H, W) probability on the picture's grid, flip agreement (1,) and confidence (1,)."""
        _, maps, agreement = next(self.predictor.batches([picture], [source], tta=self.tta))
        probability = maps[0]
        called = probability[probability > self.predictor.threshold]
        confidence = np.array([float(np.abs(2 * called - 1).mean()) if called.size else 1.0], np.float32)
        return probability, agreement, confidence


class RadiographOptions:
    """The fixed clean-up of radiograph masks, as reports record post-processing options."""

    keep_fields = 2
    min_field_share = MIN_FIELD_SHARE

    def to_dict(self) -> dict:
        return {"keep_largest_fields": self.keep_fields, "min_field_share": self.min_field_share, "fill_holes": True}


def _input_refusals(study: Study) -> list[Finding]:
    if study.is_volume:
        return [catalogue.VOLUME_FOR_XRAY(slices=study.image.GetSize()[2])]
    modality = (study.modality or "").upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        return [catalogue.MODALITY_FOR_XRAY(modality=modality)]
    return []


def _clean(mask: np.ndarray) -> np.ndarray:
    """The two largest lung fields (a second one only if at least ``MIN_FIELD_SHARE`` of the first),
    holes filled."""
    if not mask.any():
        return mask
    kept = keep_largest_components(mask, MIN_FIELD_SHARE, max_components=2)
    labels, count = ndimage.label(kept)
    filled = np.zeros_like(kept)
    for index in range(1, count + 1):
        filled |= ndimage.binary_fill_holes(labels == index)
    return filled


def _plausibility(labels: np.ndarray) -> list[Finding]:
    """No lungs (refused), an implausible lung share of the image, or very unequal fields (lateral)."""
    total = int(np.count_nonzero(labels))
    if total < 0.001 * labels.size:
        return [catalogue.NO_LUNGS()]
    percent = 100.0 * total / labels.size
    findings = []
    if not LUNG_PERCENT[0] <= percent <= LUNG_PERCENT[1]:
        findings.append(catalogue.LUNG_FRACTION(percent=percent, low=LUNG_PERCENT[0], high=LUNG_PERCENT[1]))
    right, left = int(np.count_nonzero(labels == RIGHT_LUNG)), int(np.count_nonzero(labels == LEFT_LUNG))
    ratio = min(right, left) / max(right, left)
    if ratio < MIN_SIDE_RATIO:
        findings.append(catalogue.LUNG_ASYMMETRY(ratio=ratio, limit=MIN_SIDE_RATIO))
    return findings


def _area_notes(radiograph) -> list[Finding]:
    if radiograph is None or radiograph.pixel_spacing_mm is None:
        return [catalogue.AREA_UNKNOWN()]
    if radiograph.spacing_source == "ImagerPixelSpacing":
        return [catalogue.AREA_AT_DETECTOR()]
    return []


__all__ = ["RadiographSegmenter"]
