"""Automatic nodule candidates in the lesion stage: a crop-scale nodule model (``ModelCard.nodule_crops``,
the shipped ``lung-nodule``) is not run per slice at its plan's size like the other lesion models but in
overlapping windows over the lungs at its crops' own scale (``nodules.candidates.find_candidates``), on the
canonical volume (HU, or an 8-bit export) with the lung labels as its field.

Its candidates become the nodule label in the one label map and rows of the report (``NoduleRow``). The
candidates removed as mostly aerated lung (HU input) are a ``lesion-aerated`` finding, as the solid lesions'
are; on 8-bit input, where density cannot be checked, found candidates carry ``lesion-density-unchecked``;
without a pixel spacing (a slice) the search runs at the model's own scale and says so. Every search
says what its candidates are worth (``nodule-search-limits``: the model's measured sensitivity, and that
no candidate does not mean no nodule), so the verdict of a result with a search is at best ``check``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding, slice_ranges
from lungseg.inference.core.nodule_rows import CANDIDATE, NoduleRow
from lungseg.inference.lesions.model import LesionModel
from lungseg.inference.nodules.candidates import AERATED_HU, find_candidates, search_models, search_sensitivity
from lungseg.inference.nodules.seeded import MODEL_MM


@dataclass(frozen=True)
class NoduleSearch:
    """``labels``: (Z, Y, X) uint8, the model's class value on each candidate; ``rows``: highest
    probability first."""

    labels: np.ndarray
    findings: list[Finding]
    rows: tuple[NoduleRow, ...]


def search_nodules(model: LesionModel, stored: np.ndarray, lungs: np.ndarray, spacing, in_hu: bool) -> NoduleSearch:
    """``stored``: (Z, Y, X) HU (``in_hu``) or 8-bit gray; ``lungs``: (Z, Y, X) lung labels (> 0 lung);
    ``spacing``: (x, y, z) mm of the canonical grid, or None (``MODEL_MM`` per pixel is assumed)."""
    zyx = (float(spacing[2]), float(spacing[1]), float(spacing[0])) if spacing else (1.0, MODEL_MM, MODEL_MM)
    searcher, name, confirm = search_models(model.predictor, model.name)
    found = find_candidates(searcher, stored, zyx, lungs > 0, hu=in_hu, confirm=confirm)
    labels = np.zeros(stored.shape, np.uint8)
    rows = []
    for candidate in found.found:
        labels[candidate.mask] = model.classes[0].value
        z, y, x = candidate.centre
        rows.append(NoduleRow(CANDIDATE, (x, y, z), candidate.probability, candidate.measures.to_dict()))
    findings = [catalogue.NODULE_SEARCH_LIMITS(model=name, sensitivity=search_sensitivity(name))]
    if found.removed_aerated:
        findings.append(
            catalogue.NODULE_AERATED(
                count=found.removed_aerated,
                where=slice_ranges(found.aerated_slices),
                hu=AERATED_HU,
                at=found.aerated_slices,
            )
        )
    slices = sorted({int(z) for c in found.found for z in np.flatnonzero(c.mask.any(axis=(1, 2)))})
    if slices and not in_hu:
        findings.append(
            catalogue.LESION_DENSITY_UNCHECKED(
                lesion="nodule candidates",
                where=slice_ranges(slices),
                at=slices,
                why="8-bit input carries no HU (no density, type or Lung-RADS category either)",
            )
        )
    if slices and not spacing:
        findings.append(catalogue.NODULE_SPACING_ASSUMED(mm=MODEL_MM))
    return NoduleSearch(labels, findings, tuple(rows))
