"""Quality score of a segmentation, from test-time augmentation and anatomical plausibility.

Per slice: the Dice between the plain and the left-right flipped prediction (1.0 when both are empty)
and the mean confidence ``|2p - 1|`` over the pixels either pass calls lung. Per study: the lung-area
weighted mean of the per-slice agreement, halved when the anatomy is implausible (a missing lung,
volumes outside adult ranges, lungs that could not be separated). Scores below ``QUALITY_FLAG`` are
flagged in the report and on the overlay.
"""

from __future__ import annotations

import numpy as np

from lungseg.errors import Finding

QUALITY_FLAG = 0.90
IMPLAUSIBLE_CODES = {"missing-lung", "implausible-volume", "lungs-joined"}


def quality_scores(mask: np.ndarray, agreement: np.ndarray, confidence: np.ndarray) -> dict:
    """``mask``: (Z, Y, X) final lungs; ``agreement``: (Z,) flip Dice per slice; ``confidence``: (Z,)."""
    area = mask.reshape(len(mask), -1).sum(axis=1).astype(np.float64)
    score = float(np.average(agreement, weights=area)) if area.sum() else 0.0
    per_slice = [{"slice": z, "lung_pixels": int(area[z]), "flip_agreement": round(float(agreement[z]), 4),
                  "confidence": round(float(confidence[z]), 4)} for z in range(len(mask))]
    large = area >= 0.05 * area.max() if area.any() else area > 0  # tiny apex/trachea slices are noisy
    flagged_slices = [z for z in range(len(mask)) if large[z] and agreement[z] < QUALITY_FLAG]
    return {"flip_agreement": round(score, 4), "score": round(score, 4), "plausible": True,
            "flagged": score < QUALITY_FLAG, "flagged_slices": flagged_slices, "threshold": QUALITY_FLAG,
            "per_slice": per_slice}


def apply_plausibility(quality: dict, findings: list[Finding]) -> dict:
    """Halve the score when a finding says the anatomy is implausible."""
    plausible = not any(finding.code in IMPLAUSIBLE_CODES for finding in findings)
    score = quality["flip_agreement"] * (1.0 if plausible else 0.5)
    return {**quality, "plausible": plausible, "score": round(score, 4), "flagged": score < QUALITY_FLAG}
