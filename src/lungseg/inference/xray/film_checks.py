"""The chest X-ray segmenter's own steps: refuse what is not a radiograph, clean the lung fields, judge
their share of the film and their sizes, and say how areas and sides were read."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from lungseg import findings as catalogue
from lungseg.findings import Finding
from lungseg.inference.core.postprocess import LEFT_LUNG, RIGHT_LUNG, keep_largest_components
from lungseg.inference.core.study import Study
from lungseg.io.dicom_radiograph import RADIOGRAPH_MODALITIES

LUNG_PERCENT = (8.0, 60.0)  # lung fields' share of a frontal chest film (Montgomery 512 px crops: 18-36 %)
MIN_SIDE_RATIO = 0.35  # smaller/larger lung field area on a frontal film (usual range 0.6-1.0)
MIN_FIELD_SHARE = 0.1  # a second field smaller than this share of the largest is noise


class RadiographOptions:
    """The fixed clean-up of radiograph masks, as reports record post-processing options."""

    keep_fields = 2
    min_field_share = MIN_FIELD_SHARE

    def to_dict(self) -> dict:
        return {"keep_largest_fields": self.keep_fields, "min_field_share": self.min_field_share, "fill_holes": True}


def input_refusals(study: Study) -> list[Finding]:
    if study.is_volume:
        return [catalogue.VOLUME_FOR_XRAY(slices=study.volume.GetSize()[2])]
    modality = (study.modality or "").upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        return [catalogue.MODALITY_FOR_XRAY(modality=modality)]
    return []


def clean_fields(mask: np.ndarray) -> np.ndarray:
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


def plausibility(labels: np.ndarray) -> list[Finding]:
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


def area_notes(radiograph) -> list[Finding]:
    if radiograph is None or radiograph.pixel_spacing_mm is None:
        return [catalogue.AREA_UNKNOWN()]
    if radiograph.spacing_source == "ImagerPixelSpacing":
        return [catalogue.AREA_AT_DETECTOR()]
    return []


def mirrored_sides(labels: np.ndarray) -> np.ndarray:
    """Right and left lung labels swapped (a film whose columns run towards the patient's right)."""
    swapped = np.where(labels == RIGHT_LUNG, LEFT_LUNG, np.where(labels == LEFT_LUNG, RIGHT_LUNG, 0))
    return swapped.astype(np.uint8)
