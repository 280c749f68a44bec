"""The trachea and main bronchi (lobar bronchi where the grow stays controlled) apart from the lungs: a
classic region grow in air-density voxels with leak control, on HU volumes and HU slices.

1. Air: HU below ``AIR_HU``, or ``AIR_BELOW_LUNG`` under the median lung HU where that is higher (the
   kmader slices hold air near -800 HU and lung near -690 HU), on the slice smoothed over ``SMOOTH_MM``
   (an odd number of pixels, at least 3: single voxels of noise split a lumen), inside the body outline
   (``anatomy.body_outline``: the air around the patient never counts). A trachea candidate on a slice
   is a 2D air component of ``TRACHEA_MM2`` area, round (area at least ``ROUNDNESS`` of the disc through
   its farthest pixel), centred within ``MIDLINE_MM`` of the body midline (35 mm: a main bronchus at the
   hilum lies 30 mm out) and lying in soft tissue, not in the lung: at most ``RING_AERATED`` of the ring
   ``RING_MM`` around it is aerated (HU below half the median lung HU).
2. A volume's seed is the top-most tube of candidates over ``TUBE_MM`` downward (each overlapping the one
   above) above the slice of largest lung area (the trachea enters the chest from above; the lungs of an
   abdominal scan are largest at its top); a volume without one gets no airway label.
3. The grow runs downward slice by slice: an air component of the next slice joins when it overlaps the
   airway above and its area is at most ``GROWTH`` times that airway's overlapping area plus ``SLACK_MM2``
   and at most ``MAX_AREA_MM2``. A component that grows faster leaks into the parenchyma and is dropped
   with its branch, so the trachea and main bronchi stay, and lobar bronchi while they stay controlled.
4. The rim: on each slice, a lung-label component that the airway grown by ``RIM_MM`` covers for at least
   ``RIM_SHARE`` is the trachea drawn as lung with its wall's partial-volume voxels: airway as a whole.

Only voxels the lung model labelled lung become airway, so the lung volumes drop by exactly the airway
volume (POPI: 38.0 mL, ``benchmarks/airways.py``). A 2D HU slice gets the airway where step 1 finds a
candidate: the trachea above the carina, a main bronchus in the mediastinum below it (kmader slices at
the hilum are mostly surrounded by lung and get none). An 8-bit export is skipped (no airway label): its
grays have no air threshold. Without spacing a pixel is taken as ``ASSUMED_PIXEL_MM`` (the kmader areas
give 0.84 mm). Nothing found, no lungs, or 8-bit: the labels come back unchanged, never an error.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from lungseg.inference.ct.anatomy import body_outline
from lungseg.labels import AIRWAY

AIR_HU = -900.0
AIR_BELOW_LUNG = 120.0
SMOOTH_MM = 2.5
TRACHEA_MM2 = (15.0, 700.0)
ROUNDNESS = 0.3
MIDLINE_MM = 35.0
RING_MM = (2.0, 5.0)
RING_AERATED = 0.6
TUBE_MM = 20.0
GROWTH = 1.5
SLACK_MM2 = 20.0
MAX_AREA_MM2 = 800.0
RIM_MM = 3.0
RIM_SHARE = 0.5
ASSUMED_PIXEL_MM = 0.8


def add_airways(
    hu: np.ndarray, labels: np.ndarray, spacing: tuple[float, ...] | None, in_hu: bool, midline: float | None
) -> np.ndarray:
    """(Z, Y, X) lung labels -> the same labels with the airway voxels set to ``AIRWAY.value`` (a copy;
    unchanged when no trachea is found, the input is 8-bit or there are no lungs)."""
    airway = find_airways(hu, labels > 0, spacing, midline) if in_hu and labels.any() else None
    if airway is None or not airway.any():
        return labels
    carved = labels.copy()
    carved[airway] = AIRWAY.value
    return carved


def find_airways(
    hu: np.ndarray, lungs: np.ndarray, spacing: tuple[float, ...] | None, midline: float | None
) -> np.ndarray | None:
    """(Z, Y, X) bool airway inside ``lungs`` (module docstring), or None without a trachea."""
    pixel_mm = (float(spacing[0]), float(spacing[1])) if spacing else (ASSUMED_PIXEL_MM, ASSUMED_PIXEL_MM)
    slice_mm = float(spacing[2]) if spacing and len(spacing) > 2 else 1.0
    pixel_mm2 = pixel_mm[0] * pixel_mm[1]
    centre = midline if midline is not None else hu.shape[-1] / 2
    lung_hu = float(np.median(hu[lungs]))
    air_hu = max(AIR_HU, lung_hu - AIR_BELOW_LUNG)
    smooth = max(3, 2 * int(SMOOTH_MM / pixel_mm[0] / 2) + 1)
    air = np.stack([(ndimage.uniform_filter(plane, smooth) < air_hu) & body_outline(plane, True) for plane in hu])
    aerated = hu < lung_hu / 2
    grown = np.zeros_like(lungs)
    if len(hu) == 1:
        grown[0] = _candidates(air[0], aerated[0], pixel_mm, centre)
    else:
        seed = _seed(air, aerated, lungs, pixel_mm, slice_mm, centre)
        if seed is None:
            return None
        grown = seed
        for z in range(int(np.flatnonzero(seed.reshape(len(seed), -1).any(axis=1))[0]) - 1, -1, -1):
            grown[z] = _grow(air[z], grown[z + 1], pixel_mm2)
            if not grown[z].any():
                break
    if not grown.any():
        return None
    return _with_rim(grown, lungs, pixel_mm[0])


def _candidates(air: np.ndarray, aerated: np.ndarray, pixel_mm: tuple[float, float], centre: float) -> np.ndarray:
    """(H, W) bool: the slice's trachea/bronchus candidates (module docstring, step 1)."""
    components, count = ndimage.label(air)
    found = np.zeros_like(air)
    pixel_mm2 = pixel_mm[0] * pixel_mm[1]
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        if box is None:
            continue
        part = components[box] == index
        area = float(part.sum()) * pixel_mm2
        if not TRACHEA_MM2[0] <= area <= TRACHEA_MM2[1]:
            continue
        rows, cols = np.nonzero(part)
        y, x = rows.mean() + box[0].start, cols.mean() + box[1].start
        if abs(x - centre) * pixel_mm[0] > MIDLINE_MM:
            continue
        reach = np.hypot((rows + box[0].start - y) * pixel_mm[1], (cols + box[1].start - x) * pixel_mm[0]).max()
        if area < ROUNDNESS * np.pi * max(reach, 1e-3) ** 2:
            continue
        if _aerated_ring(components == index, aerated, pixel_mm) > RING_AERATED:
            continue
        found[box] |= part
    return found


def _seed(
    air: np.ndarray,
    aerated: np.ndarray,
    lungs: np.ndarray,
    pixel_mm: tuple[float, float],
    slice_mm: float,
    centre: float,
) -> np.ndarray | None:
    """(Z, Y, X) bool: the top-most tube of candidates over ``TUBE_MM`` above the largest lung slice, each
    slice's candidates overlapping those above (module docstring, step 2)."""
    area = lungs.reshape(len(lungs), -1).sum(axis=1)
    widest = int(np.argmax(area))
    tube = max(2, int(np.ceil(TUBE_MM / slice_mm)))
    for z in range(len(air) - 1, widest, -1):
        found = _candidates(air[z], aerated[z], pixel_mm, centre)
        if not found.any():
            continue
        seed = np.zeros_like(air)
        seed[z], depth = found, 1
        while depth < tube and z - depth > widest:
            below = _candidates(air[z - depth], aerated[z - depth], pixel_mm, centre)
            below = _overlapping(below, seed[z - depth + 1])
            if not below.any():
                break
            seed[z - depth], depth = below, depth + 1
        if depth >= tube:
            return seed
    return None


def _overlapping(found: np.ndarray, above: np.ndarray) -> np.ndarray:
    components, _ = ndimage.label(found)
    return np.isin(components, np.unique(components[above & found]))  # found there: no background


def _aerated_ring(part: np.ndarray, aerated: np.ndarray, pixel_mm: tuple[float, float]) -> float:
    """Share of aerated pixels in the ring ``RING_MM`` around ``part`` (its wall and what lies beyond)."""
    inner = ndimage.binary_dilation(part, iterations=max(1, round(RING_MM[0] / pixel_mm[0])))
    ring = ndimage.binary_dilation(part, iterations=max(2, round(RING_MM[1] / pixel_mm[0]))) & ~inner
    return float(aerated[ring].mean()) if ring.any() else 1.0


def _grow(air: np.ndarray, above: np.ndarray, pixel_mm2: float) -> np.ndarray:
    """(H, W) bool: the air components under the airway ``above`` that grow no faster than the leak
    limit (module docstring, step 3)."""
    components, _ = ndimage.label(air)
    parents, _ = ndimage.label(above)
    grown = np.zeros_like(air)
    for index in np.unique(components[above & air]):
        if index == 0:
            continue
        part = components == index
        linked = np.unique(parents[part & above])
        parent_area = float(np.isin(parents, linked[linked > 0]).sum()) * pixel_mm2
        area = float(part.sum()) * pixel_mm2
        if area <= min(GROWTH * parent_area + SLACK_MM2, MAX_AREA_MM2):
            grown |= part
    return grown


def _with_rim(grown: np.ndarray, lungs: np.ndarray, pixel_mm: float) -> np.ndarray:
    """The grown airway inside the lungs, with the lung components it dominates (step 4)."""
    airway = grown & lungs
    for z in np.flatnonzero(grown.reshape(len(grown), -1).any(axis=1)):
        components, _ = ndimage.label(lungs[z])
        near = ndimage.binary_dilation(grown[z], iterations=max(1, round(RIM_MM / pixel_mm)))
        for index in np.unique(components[grown[z]]):
            if index == 0:
                continue
            part = components == index
            if (part & near).sum() >= RIM_SHARE * part.sum():
                airway[z] |= part
    return airway
