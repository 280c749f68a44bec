"""Anatomical plausibility of segmented lungs, slice by slice: what fails is flagged with the reason and
the slices (canonical numbers, inferior first), for the trust verdict (``inference.core.verdict``).

- Inside the body (``LUNG_OUTSIDE_BODY``): the body is the largest region of the slice above air (HU
  above ``BODY_HU``; an 8-bit picture, smoothed over ``BODY_SMOOTH`` pixels, more than ``BODY_GRAY``
  above its darkest gray, which also keeps the lungs of a lung-window export), closed and with its
  holes filled, so dark lungs are holes inside it; a slice whose lung has more than ``OUTSIDE_SHARE``
  of its pixels outside the body (grown by ``BODY_MARGIN`` pixels) is flagged. Measured
  (``benchmarks/anatomy_check.py``): none on POPI, the kmader HU slices and the COVID-19 exports; 15 of
  18 MSD tumour exports, whose lungs the 8-bit lung model paints beyond the chest wall.
- Two lungs of plausible size ratio (``LUNG_SIDE_RATIO``): on slices through the middle of the chest
  (lung area at least ``MID_CHEST_SHARE`` of the largest slice's; a 2D slice counts as one), the smaller
  lung under ``MIN_SIDE_RATIO`` of the larger is flagged. Only for right/left label maps.
- Lung darker than the tissue around it (``LUNG_NOT_DARK``): median lung HU above ``checks.AERATED_HU``,
  or on 8-bit pictures the lung/ring ratio (``checks.lung_ring_ratio``) above ``checks.CT_LUNG_RATIO``,
  the chest-CT picture threshold shared with routing and the classifier (a single 8-bit slice gets
  that whole check, ``checks.chest_ct_picture``, from the segmenter instead).

Slices with fewer than ``MIN_LUNG_PIXELS`` lung pixels (apex, bases) are not judged.
"""

from __future__ import annotations

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding, slice_ranges
from lungseg.inference.core.checks import AERATED_HU, CT_LUNG_RATIO, lung_ring_ratio
from lungseg.labels import LEFT_LUNG, RIGHT_LUNG

BODY_HU = -500.0
BODY_GRAY = 10
BODY_SMOOTH = 7
BODY_MARGIN = 3
OUTSIDE_SHARE = 0.10
MID_CHEST_SHARE = 0.5
MIN_SIDE_RATIO = 0.2
MIN_LUNG_PIXELS = 200


def check_anatomy(stored: np.ndarray, labels: np.ndarray, in_hu: bool, split: bool) -> list[Finding]:
    """``stored``: (Z, Y, X) HU (``in_hu``) or 8-bit gray; ``labels``: (Z, Y, X) lung labels (1/2 right/left
    when ``split``, else 1). Findings for the slices that fail (module docstring)."""
    lungs = labels > 0
    area = lungs.reshape(len(lungs), -1).sum(axis=1)
    judged = [z for z in range(len(lungs)) if area[z] >= MIN_LUNG_PIXELS]
    outside, sides, bright = {}, {}, {}
    for z in judged:
        share = outside_share(stored[z], lungs[z], in_hu)
        if share > OUTSIDE_SHARE:
            outside[z] = share
        darkness = _darkness(stored[z], lungs[z], in_hu) if in_hu or len(stored) > 1 else None
        if darkness is not None:
            bright[z] = darkness
        if split and area[z] >= MID_CHEST_SHARE * area.max():
            right, left = int((labels[z] == RIGHT_LUNG.value).sum()), int((labels[z] == LEFT_LUNG.value).sum())
            ratio = min(right, left) / max(right, left)
            if ratio < MIN_SIDE_RATIO:
                sides[z] = ratio
    findings = []
    if outside:
        findings.append(
            catalogue.LUNG_OUTSIDE_BODY(
                count=len(outside), where=_where(outside), percent=100 * max(outside.values()), at=sorted(outside)
            )
        )
    if sides:
        findings.append(
            catalogue.LUNG_SIDE_RATIO(
                limit=MIN_SIDE_RATIO, count=len(sides), where=_where(sides), ratio=min(sides.values()), at=sorted(sides)
            )
        )
    if bright:
        worst = max(bright.values())
        measure = (
            f"median lung up to {worst:.0f} HU, aerated lung lies below {AERATED_HU:.0f} HU"
            if in_hu
            else f"lung/ring gray ratio up to {worst:.2f}, chest CT at most {CT_LUNG_RATIO:.2f}"
        )
        findings.append(
            catalogue.LUNG_NOT_DARK(count=len(bright), where=_where(bright), measure=measure, at=sorted(bright))
        )
    return findings


def outside_share(picture: np.ndarray, lungs: np.ndarray, in_hu: bool) -> float:
    """Share of a slice's lung pixels outside its body outline (module docstring)."""
    from scipy import ndimage

    body = body_outline(picture, in_hu)
    body = ndimage.binary_dilation(body, iterations=BODY_MARGIN)
    return float((lungs & ~body).sum() / max(int(lungs.sum()), 1))


def body_outline(picture: np.ndarray, in_hu: bool) -> np.ndarray:
    """(H, W) bool: the largest region above air, closed and hole-filled (the body with the lungs inside)."""
    from scipy import ndimage

    if in_hu:
        bright = picture > BODY_HU
    else:  # exports in a soft-tissue window show the chest wall as speckle: smooth it into a wall first
        bright = ndimage.uniform_filter(picture.astype(np.float32), BODY_SMOOTH) > float(picture.min()) + BODY_GRAY
    components, count = ndimage.label(bright)
    if not count:
        return bright
    largest = components == 1 + int(np.argmax(np.bincount(components.ravel())[1:]))
    closed = ndimage.binary_closing(largest, iterations=5, border_value=0)
    return ndimage.binary_fill_holes(closed | largest)


def _darkness(picture: np.ndarray, lungs: np.ndarray, in_hu: bool) -> float | None:
    """The slice's lung median HU or lung/ring ratio when it fails the darkness rule, else None."""
    if in_hu:
        median = float(np.median(picture[lungs]))
        return median if median > AERATED_HU else None
    ratio = lung_ring_ratio(picture, lungs)
    return ratio if ratio > CT_LUNG_RATIO else None


def _where(per_slice: dict) -> str:
    return slice_ranges(per_slice)
