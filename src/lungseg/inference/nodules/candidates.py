"""Automatic nodule candidates: the nodule model over the whole lung field, in overlapping windows.

Each axial slice's lung field is tiled with the model's 128-pixel crops at ``MODEL_MM`` per pixel, every
``STRIDE`` crop pixels; the probabilities are blended with a Gaussian weight that favours each crop's
centre (the model was trained on crops centred on a nodule) and mapped back to the slice grid. Voxels
above the threshold inside the lungs (dilated by ``PLEURA_MM`` so nodules on the pleura stay) form 3D
components; components under ``MIN_DIAMETER_MM`` are dropped; the rest are measured like a seeded nodule,
ranked by their highest probability, and judged by HU where HU is known: a component that is mostly
aerated lung (mean under ``AERATED_HU``) is removed and counted as such.

Two stages when the nodule model has a shipped search variant (``search_models``): the variant, trained
with the nodule anywhere in the crop, tiles the lungs; the point model confirms and outlines each component
from its centre (``find_candidates(confirm=...)``); two components it outlines as one nodule (overlapping
outlines) are one candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage

from lungseg.inference.nodules.measure import NoduleMeasures, measure_nodule
from lungseg.inference.nodules.seeded import AIR_HU, CROP, MODEL_MM, NoduleSegmenter, Seed
from lungseg.io.shipped import shipped_models

STRIDE = 48  # crop pixels between window centres
PLEURA_MM = 3.0
MIN_DIAMETER_MM = 3.0  # LIDC's smallest outlined nodules
AERATED_HU = -600.0  # mean HU below which a "nodule" is aerated lung (ground glass averages about -600 to -300)
MOST = 20  # candidates kept, highest probability first


@dataclass(frozen=True, eq=False)
class Candidate:
    """``centre``: (z, y, x) voxel of the component's centre; ``probability``: its highest model
    probability; ``mask``: (Z, Y, X) bool."""

    centre: tuple[int, int, int]
    probability: float
    mean_probability: float
    measures: NoduleMeasures
    mask: np.ndarray

    def to_dict(self) -> dict:
        z, y, x = self.centre
        return {
            "centre": {"x": x, "y": y, "z": z},
            "probability": round(self.probability, 3),
            "mean_probability": round(self.mean_probability, 3),
            **self.measures.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class Candidates:
    found: tuple[Candidate, ...]
    removed_aerated: int  # components removed as mostly aerated lung (HU input only)
    removed_small: int
    probability: np.ndarray  # (Z, Y, X) float32 blended probability on the scan's grid
    aerated_slices: tuple[int, ...] = ()  # the slices of the components removed as aerated lung
    unconfirmed: int = 0  # components the point model found no nodule at (with ``confirm``)


def gaussian_weight(size: int = CROP, sigma: float = 0.25) -> np.ndarray:
    axis = np.exp(-(((np.arange(size) + 0.5 - size / 2) / (sigma * size)) ** 2) / 2)
    return np.outer(axis, axis).astype(np.float32)


def find_candidates(
    predictor,
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    lungs: np.ndarray,
    hu: bool = True,
    confirm=None,
) -> Candidates:
    """Candidates in a (Z, Y, X) ``volume`` (HU when ``hu``) inside the ``lungs`` (Z, Y, X) bool mask.

    ``confirm``: optional ``NoduleSegmenter`` (the centred point model): each component is kept only when
    it segments a nodule from the component's centre, and then with its outline and measures (a second
    reader of every window's finding: the search model is tuned to find, the point model to outline, and
    a vessel or the diaphragm's edge centred in a crop is among its training negatives)."""
    if volume.shape != lungs.shape:
        raise ValueError(f"volume {volume.shape} and lungs {lungs.shape} differ in shape")
    probability = np.zeros(volume.shape, np.float32)
    weight = gaussian_weight()
    scale = (MODEL_MM / spacing[1], MODEL_MM / spacing[2])
    for z in np.flatnonzero(lungs.reshape(len(lungs), -1).any(1)):
        probability[z] = _slice_probability(predictor, volume[z], lungs[z], scale, weight, AIR_HU if hu else 0.0)
    reach = max(1, int(round(PLEURA_MM / min(spacing[1:]))))
    field = ndimage.binary_dilation(lungs, structure=np.ones((1, 3, 3), bool), iterations=reach)
    labels, count = ndimage.label((probability > predictor.threshold) & field)
    found: list[Candidate] = []
    aerated, small, unconfirmed = 0, 0, 0
    aerated_slices: set[int] = set()
    for index, box in enumerate(ndimage.find_objects(labels), 1):
        mask = np.zeros(volume.shape, bool)
        mask[box] = labels[box] == index
        measures = measure_nodule(mask, spacing, volume if hu else None)
        rejected = _rejected(measures)
        if rejected == "small":
            small += 1
            continue
        if rejected == "aerated":
            aerated += 1
            aerated_slices.update(int(z) for z in np.flatnonzero(mask[box].any(axis=(1, 2))) + box[0].start)
            continue
        values = probability[mask]
        centre_z, centre_y, centre_x = (int(round(c)) for c in ndimage.center_of_mass(mask))
        centre = (centre_z, centre_y, centre_x)
        if confirm is not None:
            checked = _confirmed(confirm, volume, spacing, centre, hu)
            if checked is None:
                unconfirmed += 1
                continue
            mask, measures = checked
        candidate = Candidate(centre, float(values.max()), float(values.mean()), measures, mask)
        found = _merged(found, candidate)
    found.sort(key=lambda c: -c.probability)
    return Candidates(
        tuple(found[:MOST]), aerated, small, probability, tuple(sorted(aerated_slices)), unconfirmed=unconfirmed
    )


def _rejected(measures) -> str | None:
    """Why a component is not a candidate: ``"small"`` (under ``MIN_DIAMETER_MM``), ``"aerated"`` (mean
    under ``AERATED_HU``), else None."""
    if measures.diameters.long_mm < MIN_DIAMETER_MM:
        return "small"
    if measures.mean_hu is not None and measures.mean_hu < AERATED_HU:
        return "aerated"
    return None


def _confirmed(segmenter, volume, spacing, centre, hu):
    """(mask, measures) of the nodule ``segmenter`` finds from ``centre``, else None."""
    result = segmenter.segment(volume, spacing, Seed(*centre), hu=hu)
    if not result.found or result.measures is None or _rejected(result.measures):
        return None
    return result.mask, result.measures


def _merged(found: list[Candidate], candidate: Candidate) -> list[Candidate]:
    """``found`` with ``candidate`` added, unless its mask overlaps one already found (two components of
    the search confirmed as one nodule by the point model): then the more probable of the two stays."""
    for index, other in enumerate(found):
        if np.logical_and(other.mask, candidate.mask).any():
            if candidate.probability > other.probability:
                found[index] = candidate
            return found
    return found + [candidate]


def _slice_probability(predictor, section, lung, scale, weight, fill) -> np.ndarray:
    """Blended probability of one slice from windows over its lung field's bounding box."""
    ys, xs = np.nonzero(lung)
    step_y, step_x = STRIDE * scale[0], STRIDE * scale[1]
    centres = [
        (cy, cx)
        for cy in np.arange(ys.min(), ys.max() + step_y, step_y)
        for cx in np.arange(xs.min(), xs.max() + step_x, step_x)
    ]
    source = section.astype(np.float32) if section.dtype != np.uint8 else section
    crops, maps = [], []
    for cy, cx in centres:
        to_slice = np.array(
            [[scale[1], 0.0, cx + (0.5 - CROP / 2) * scale[1]], [0.0, scale[0], cy + (0.5 - CROP / 2) * scale[0]]]
        )
        maps.append(to_slice)
        crops.append(
            cv2.warpAffine(
                source,
                to_slice,
                (CROP, CROP),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=fill,
            )
        )
    total = np.zeros(section.shape, np.float32)
    weights = np.zeros(section.shape, np.float32)
    for probability, to_slice in zip(predictor.probabilities(crops), maps):
        size = (section.shape[1], section.shape[0])
        total += cv2.warpAffine(probability.astype(np.float32) * weight, to_slice, size, flags=cv2.INTER_LINEAR)
        weights += cv2.warpAffine(weight, to_slice, size, flags=cv2.INTER_LINEAR)
    return np.divide(total, weights, out=np.zeros_like(total), where=weights > 1e-3)


def search_models(predictor, name: str):
    """(search predictor, its name, confirm) for a candidate search with nodule model ``name``: with a
    shipped search variant, it searches and the point model (``predictor``) confirms and outlines each
    candidate; without one, ``predictor`` searches alone (confirm None)."""
    searcher, searched_by = search_predictor(predictor, name)
    if searcher is predictor:
        return predictor, name, None
    return searcher, searched_by, NoduleSegmenter(predictor)


def search_predictor(predictor, name: str):
    """(predictor, model name) the candidate search runs: the shipped search variant of nodule model
    ``name`` (its manifest's ``search_variant``: the same crops, trained with the nodule anywhere in the
    window, so a window need not be centred on a nodule to find it), else ``predictor`` and ``name``
    themselves. The point-to-nodule segmentation keeps the centred model, which outlines better."""
    variant = shipped_models().get(name, {}).get("search_variant")
    if not variant:
        return predictor, name
    return _search_model(variant, getattr(predictor.backend, "name", "auto")), variant


@lru_cache(maxsize=4)
def _search_model(name: str, backend: str):
    from lungseg.inference.core.predictor import Predictor

    return Predictor.load(name, backend=backend if backend in ("torch", "onnx") else "auto")


def search_sensitivity(name: str) -> str:
    """The shipped model's measured candidate sensitivity on held-out LIDC nodules (its manifest entry,
    ``benchmarks/nodule_cv.py``), as words for the finding."""
    metrics = shipped_models().get(name, {}).get("cv_metrics", {})
    mean = metrics.get("detection_sensitivity", {}).get("mean")
    return "an unmeasured share" if mean is None else f"{mean:.0%}"
