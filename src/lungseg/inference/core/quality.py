"""Quality score of a segmentation, from test-time augmentation and anatomical plausibility.

Per slice: the Dice between the plain and the left-right flipped prediction (1.0 when both are empty)
and the mean confidence ``|2p - 1|`` over the pixels either pass calls lung. Per study: the lung-area
weighted mean of the per-slice agreement, halved when the anatomy is implausible (a missing lung,
volumes outside adult ranges, lungs that could not be separated). Scores below ``QUALITY_FLAG`` are
flagged in the report and on the overlay, and so are the slices with at least ``JUDGED_SHARE`` of the
largest slice's lung whose own agreement is below it (``flagged_slices``); slices with less lung (the
apex, the trachea, the bases: a few hundred pixels, whose Dice swings with a handful of them) are
reported with ``judged`` false and never flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from lungseg.findings import IMPLAUSIBLE_ANATOMY, Finding
from lungseg.screening import QUALITY_FLAG

JUDGED_SHARE = 0.05  # slices with less lung than this share of the largest slice's (apex, trachea) are not judged


@dataclass(frozen=True)
class SliceQuality:
    """``judged``: the slice holds enough lung (``JUDGED_SHARE``) for its agreement to flag it."""

    slice: int
    lung_pixels: int
    flip_agreement: float
    confidence: float
    judged: bool = True


@dataclass(frozen=True)
class Quality:
    """``flip_agreement``: lung-area weighted flip Dice; ``score``: the same, halved when the anatomy is
    implausible; ``flagged``: score below ``threshold``; ``flagged_slices``: large slices whose own
    agreement is below it."""

    flip_agreement: float
    score: float
    plausible: bool
    flagged: bool
    flagged_slices: tuple[int, ...]
    threshold: float
    per_slice: tuple[SliceQuality, ...]

    def to_dict(self) -> dict:
        values = asdict(self)
        values["flagged_slices"] = list(self.flagged_slices)
        values["per_slice"] = [asdict(row) for row in self.per_slice]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> Quality:
        """A report's quality (one written before thresholds and judged slices reads with their defaults)."""
        return cls(
            values["flip_agreement"],
            values["score"],
            values["plausible"],
            values["flagged"],
            tuple(values.get("flagged_slices", ())),
            values.get("threshold", QUALITY_FLAG),
            tuple(SliceQuality(**row) for row in values.get("per_slice", ())),
        )


def quality_scores(mask: np.ndarray, agreement: np.ndarray, confidence: np.ndarray) -> Quality:
    """``mask``: (Z, Y, X) final lungs; ``agreement``: (Z,) flip Dice per slice; ``confidence``: (Z,)."""
    area = mask.reshape(len(mask), -1).sum(axis=1).astype(np.float64)
    score = float(np.average(agreement, weights=area)) if area.sum() else 0.0
    large = area >= JUDGED_SHARE * area.max() if area.any() else area > 0  # tiny apex/trachea slices are noisy
    per_slice = tuple(
        SliceQuality(z, int(area[z]), round(float(agreement[z]), 4), round(float(confidence[z]), 4), bool(large[z]))
        for z in range(len(mask))
    )
    flagged_slices = tuple(z for z in range(len(mask)) if large[z] and agreement[z] < QUALITY_FLAG)
    return Quality(
        round(score, 4), round(score, 4), True, score < QUALITY_FLAG, flagged_slices, QUALITY_FLAG, per_slice
    )


def apply_plausibility(quality: Quality, findings: list[Finding]) -> Quality:
    """Halve the score when a finding says the anatomy is implausible."""
    plausible = not any(finding.code in IMPLAUSIBLE_ANATOMY for finding in findings)
    score = quality.flip_agreement * (1.0 if plausible else 0.5)
    return replace(quality, plausible=plausible, score=round(score, 4), flagged=score < QUALITY_FLAG)
