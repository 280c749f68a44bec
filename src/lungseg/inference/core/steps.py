"""Steps the CT and chest X-ray segmenters share: run the lung model slice by slice with its flip
agreement and confidence, split right from left, and refuse or score the result."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding
from lungseg.inference.core.postprocess import split_lungs
from lungseg.inference.core.predictor import Predictor


def model_masks(
    model: Predictor, slices: Sequence[np.ndarray] | np.ndarray, tta: bool, sources: Sequence | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Z, Y, X) slices -> the bool mask (probability above the model's threshold) on their grid, the
    per-slice flip agreement (Dice on the model grid, 1.0 without ``tta``) and the per-slice confidence
    (mean |2p - 1| over the pixels called lung, 1.0 where none is). No probability volume is kept, so
    memory stays at a few bytes per voxel."""
    threshold = model.threshold
    first = np.asarray(slices[0])
    mask = np.empty((len(slices), *first.shape[:2]), bool)
    agreement = np.ones(len(slices), np.float32)
    confidence = np.ones(len(slices), np.float32)
    for start, probabilities, batch_agreement in model.batches(slices, sources, tta=tta):
        agreement[start : start + len(probabilities)] = batch_agreement
        for index, probability in enumerate(probabilities, start):
            mask[index] = probability > threshold
            called = probability[mask[index]]
            confidence[index] = float(np.abs(2 * called - 1).mean()) if called.size else 1.0
    return mask, agreement, confidence


def sides(mask: np.ndarray, midline: float | None = None) -> tuple[np.ndarray, list[Finding]]:
    """(Z, Y, X) bool lungs -> labels (1 right, 2 left lung) and a ``lungs-joined`` finding when they
    could not be separated."""
    labels, split_ok = split_lungs(mask, midline)
    return labels, [] if split_ok else [catalogue.LUNGS_JOINED()]
