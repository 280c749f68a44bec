"""Lesion plausibility from density: a solid lesion (a tumour or nodule) is soft-tissue dense, so a
component a solid-lesion class reports whose voxels are mostly aerated lung is not a tumour, and is
removed from the label map with a finding that says how many, how large and where.

- HU input (``aerated_share_hu``): a component is aerated when more than ``AERATED_SHARE`` of its voxels
  lie below ``checks.AERATED_HU`` (-300 HU). Measured on POPI through ``lung-tumor`` (retired since, issue
  25; ``benchmarks/lesion_density.py`` keeps the rows): the 16 components split cleanly: 12 with 91-100 %
  of their voxels below -300 HU (means -707 to -809 HU) and 4 with 0-23 % (means -207 to +36 HU); no
  component lies between. ``tests/test_trust.py`` places such components on the real POPI scan.
- 8-bit input (``aerated_share_8bit``): the same rule on the export's gray levels relative to the slice:
  a pixel counts as aerated when it lies nearer the slice's lung gray (median of its lung pixels) than
  its soft-tissue gray (median of a 15-pixel ring of tissue around the lungs; the ring of
  ``checks.lung_ring_ratio``), i.e. below their midpoint, as -300 HU lies near the midpoint of lung
  (about -850 HU) and soft tissue (about +40 HU). Where the export window clips the lungs to its
  black floor (the MSD tumour exports: window -5..225 HU, lung, fat and a partial-volume nodule all at
  gray 0; on those slices 10 of 18 reference tumour masks are mostly gray 0) or the two grays are
  under ``MIN_CONTRAST`` apart, density says nothing: the component stays and a finding says it could
  not be checked.
"""

from __future__ import annotations

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding, slice_ranges
from lungseg.inference.core.checks import AERATED_HU
from lungseg.inference.lesions.model import component_structure
from lungseg.labels import TUMOUR, LabelClass

SOLID_CLASSES = (TUMOUR,)  # the classes that must be soft-tissue dense
AERATED_SHARE = 0.5  # more of a component's voxels aerated than this: not a solid lesion
RING_PIXELS = 15  # the tissue ring around the lungs whose median is the slice's soft-tissue gray
MIN_CONTRAST = 16  # lung and soft-tissue grays closer than this: the export cannot tell them apart


def drop_aerated(
    found: np.ndarray, stored: np.ndarray, lungs: np.ndarray, classes: tuple[LabelClass, ...], in_hu: bool, spacing
) -> tuple[np.ndarray, list[Finding]]:
    """``found``: (Z, Y, X) uint8 lesion labels of one model; ``stored``: (Z, Y, X) HU (``in_hu``) or
    8-bit gray; ``lungs``: (Z, Y, X) lung labels (> 0 lung); ``spacing``: (x, y[, z]) mm or None.
    Returns the labels without the aerated components of ``SOLID_CLASSES`` and the findings: one per
    class that lost components, one per class whose density could not be checked on some slices."""
    from scipy import ndimage

    levels = None if in_hu else _slice_levels(stored, (lungs > 0) & (found == 0))
    kept = found.copy()
    findings = []
    for label in (c for c in classes if c in SOLID_CLASSES):
        components, count = ndimage.label(found == label.value, component_structure(len(found) > 1))
        removed: list[tuple[tuple[slice, ...], np.ndarray]] = []
        unchecked: set[int] = set()
        details: list[str] = []
        for index, box in enumerate(ndimage.find_objects(components), start=1):
            region = components[box] == index
            values = stored[box][region]
            share: float | None
            if levels is None:  # in HU (levels are the 8-bit grays)
                share, detail = aerated_share_hu(values), f"mean {float(values.mean()):.0f} HU"
            else:
                zs = np.nonzero(region)[0] + box[0].start
                share = aerated_share_8bit(values, levels[zs])
                if share is None:
                    unchecked.update(int(z) for z in zs)
                    continue
                detail = f"median gray {float(np.median(values)):.0f}"
            if share > AERATED_SHARE:
                removed.append((box, region))
                details.append(f"{100 * share:.0f}% {'below -300 HU' if in_hu else 'at lung gray'}, {detail}")
        for box, region in removed:
            kept[box][region] = 0
        if removed:
            findings.append(_removed_finding(label, removed, details, spacing, len(found) > 1))
        if unchecked:
            findings.append(
                catalogue.LESION_DENSITY_UNCHECKED(
                    lesion=label.name,
                    where=slice_ranges(unchecked),
                    at=sorted(unchecked),
                    why="the export window shows aerated lung and tissue just below its floor as the same black "
                    "(or lung and soft tissue differ by too few gray levels)",
                )
            )
    return kept, findings


def aerated_share_hu(values: np.ndarray) -> float:
    """Share of a component's HU values below ``AERATED_HU``."""
    return float(np.mean(values < AERATED_HU)) if values.size else 0.0


def aerated_share_8bit(values: np.ndarray, levels: np.ndarray) -> float | None:
    """``values``: a component's gray levels; ``levels``: (N, 2) the (lung, soft tissue) gray of each
    value's slice, NaN where the slice cannot tell them apart. The share of values below the midpoint
    of their slice's two grays, or None when any slice cannot tell them apart."""
    if not values.size or np.isnan(levels).any():
        return None
    return float(np.mean(values < levels.mean(axis=1)))


def _slice_levels(stored: np.ndarray, lungs: np.ndarray) -> np.ndarray:
    """(Z, 2) lung and soft-tissue gray per slice (module docstring); NaN where the lungs sit on the
    picture's black floor or the two are under ``MIN_CONTRAST`` apart."""
    from scipy import ndimage

    levels = np.full((len(stored), 2), np.nan)
    for z, (picture, lung) in enumerate(zip(stored, lungs)):
        if lung.sum() < 100:
            continue
        ring = ndimage.binary_dilation(lung, iterations=RING_PIXELS) & ~lung
        low, soft = float(np.median(picture[lung])), float(np.median(picture[ring]))
        if low <= float(picture.min()) or soft - low < MIN_CONTRAST:
            continue
        levels[z] = (low, soft)
    return levels


def _removed_finding(label: LabelClass, removed: list, details: list[str], spacing, is_volume: bool) -> Finding:
    voxels = sum(int(region.sum()) for _, region in removed)
    if spacing and is_volume:
        amount = f"{voxels * float(np.prod(spacing)) / 1000.0:.2f} mL"
    elif spacing:
        amount = f"{voxels * float(spacing[0] * spacing[1]):.0f} mm2"
    else:
        amount = f"{voxels} pixels"
    slices = sorted({z for box, region in removed for z in np.nonzero(region.any(axis=(1, 2)))[0] + box[0].start})
    shown = "; ".join(details[:3]) + ("; ..." if len(details) > 3 else "")
    return catalogue.LESION_AERATED(
        count=len(removed), lesion=label.name, amount=amount, where=slice_ranges(slices), detail=shown, at=slices
    )
