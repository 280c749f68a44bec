"""Post-processing of lung masks and the split into right and left lung.

Arrays are (Z, Y, X) in the canonical LPS orientation used for inference: X grows towards the patient's
left, so the right lung lies at low X. A 2D slice is handled as a volume of one slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from lungseg.labels import LEFT_LUNG as LEFT_LUNG_CLASS
from lungseg.labels import RIGHT_LUNG as RIGHT_LUNG_CLASS

RIGHT_LUNG, LEFT_LUNG = RIGHT_LUNG_CLASS.value, LEFT_LUNG_CLASS.value  # the values split_lungs writes


@dataclass(frozen=True)
class PostprocessOptions:
    """Each step can be switched off.

    ``keep_largest``: drop connected components smaller than ``min_component_fraction`` of the largest
    (and, in 3D, keep at most the two largest lung components); with ``drop_outside_body`` a component
    other than the largest must also lie at least half inside the body's outline (soft tissue above
    -500 HU with its enclosed holes filled, per slice): air between the body and the scanner's
    field-of-view edge is not lung. ``fill_holes_3d`` fills cavities fully
    enclosed in 3D (vessels entering at the hilum stay open); ``fill_holes_2d`` fills every hole per axial
    slice (vessel cross-sections included). ``smooth_radius`` > 0 applies a morphological opening then
    closing with that radius in voxels. ``split_lungs`` labels right (1) and left (2) lung.
    """

    drop_outside_body: bool = True
    keep_largest: bool = True
    min_component_fraction: float = 0.05
    fill_holes_3d: bool = True
    fill_holes_2d: bool = False
    smooth_radius: int = 0
    split_lungs: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def postprocess(mask: np.ndarray, options: PostprocessOptions, hu: np.ndarray | None = None) -> np.ndarray:
    """(Z, Y, X) bool mask (and the (Z, Y, X) image it came from, for ``drop_outside_body``) -> cleaned
    bool mask of the same shape (work is done inside the mask's bounding box plus a margin, which holds
    every step's result)."""
    cleaned = np.zeros(mask.shape, bool)
    if not mask.any():
        return cleaned
    box = _bounding_box(mask, margin=options.smooth_radius + 1)
    # the body outline from whole slices: cropped to the lungs' box first, a lung touching the box edge
    # would look open to the outside and be dropped (the left lung of kmader ID_0244, issue 24)
    body = body_outline(hu[box[0]])[:, box[1], box[2]] if hu is not None and options.drop_outside_body else None
    cleaned[box] = _postprocess_box(mask[box], options, body)
    return cleaned


def _bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    box = []
    for axis in range(mask.ndim):
        present = np.nonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))[0]
        box.append(slice(max(0, present[0] - margin), min(mask.shape[axis], present[-1] + margin + 1)))
    return tuple(box)


def _postprocess_box(mask: np.ndarray, options: PostprocessOptions, body: np.ndarray | None) -> np.ndarray:
    mask = mask.astype(bool, copy=True)
    if options.smooth_radius > 0:
        structure = _ball(options.smooth_radius, volume=mask.shape[0] > 1)
        mask = ndimage.binary_closing(ndimage.binary_opening(mask, structure), structure)
    if options.keep_largest:
        mask = keep_largest_components(
            mask, options.min_component_fraction, max_components=2 if mask.shape[0] > 1 else None, body=body
        )
    if options.fill_holes_2d:
        for z in range(mask.shape[0]):
            mask[z] = ndimage.binary_fill_holes(mask[z])
    if options.fill_holes_3d and mask.shape[0] > 2:
        mask = ndimage.binary_fill_holes(mask)
    return mask


def keep_largest_components(
    mask: np.ndarray,
    min_fraction: float = 0.05,
    max_components: int | None = 2,
    hu: np.ndarray | None = None,
    body: np.ndarray | None = None,
) -> np.ndarray:
    """Keep components at least ``min_fraction`` of the largest one (at most ``max_components``). With
    ``hu`` (the image, same shape) or its ``body_outline`` ``body``, a component other than the largest is
    kept only if at least half of it lies inside the body outline."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(sizes)[::-1]
    keep = [index + 1 for index in order if sizes[index] >= min_fraction * sizes[order[0]]]
    if body is None and hu is not None:
        body = body_outline(hu)
    if body is not None:
        boxes = ndimage.find_objects(labels)
        keep = keep[:1] + [index for index in keep[1:] if inside_share(labels, index, boxes[index - 1], body) >= 0.5]
    return np.isin(labels, keep[:max_components] if max_components else keep)


def body_outline(hu: np.ndarray, body_hu: float = -500.0) -> np.ndarray:
    """(Z, Y, X) image -> bool body outline: soft tissue (> ``body_hu``) with its enclosed holes filled, per
    slice, at half resolution (repeated back to full size). Air between the body and the scanner's
    field-of-view edge is outside it; the lungs are inside."""
    half = np.stack([ndimage.binary_fill_holes(np.asarray(plane[::2, ::2]) > body_hu) for plane in hu])
    return np.repeat(np.repeat(half, 2, axis=1), 2, axis=2)[:, : hu.shape[1], : hu.shape[2]]


def inside_share(labels: np.ndarray, index: int, box: tuple[slice, ...], body: np.ndarray) -> float:
    """Share of component ``index`` (within its bounding ``box``) inside the ``body`` outline."""
    component = labels[box] == index
    total = int(np.count_nonzero(component))
    return int(np.count_nonzero(component & body[box])) / total if total else 1.0


def split_lungs(mask: np.ndarray, midline_x: float | None = None) -> tuple[np.ndarray, bool]:
    """(Z, Y, X) bool mask -> (uint8 labels 1 = right, 2 = left, whether erosion separated the lungs).

    Lungs joined by the trachea or an anterior junction are separated by eroding a downsampled copy
    until two large parts appear; every voxel then goes to the nearer part. If erosion cannot separate
    them, the mask is cut at ``midline_x`` (the body's centre) instead.
    """
    labels = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return labels, True
    step = max(1, mask.shape[-1] // 128)
    small = mask[:, ::step, ::step]
    seeds = _separating_seeds(small)
    if seeds is None:
        cut = midline_x if midline_x is not None else float(np.nonzero(mask)[-1].mean())
        columns = np.arange(mask.shape[-1])[None, None, :]
        labels[mask & (columns < cut)] = RIGHT_LUNG
        labels[mask & (columns >= cut)] = LEFT_LUNG
        return labels, False
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    nearest_label = seeds[tuple(nearest)]
    full = np.repeat(np.repeat(nearest_label, step, axis=1), step, axis=2)[:, : mask.shape[1], : mask.shape[2]]
    labels[mask] = full[mask]
    return labels, True


def _separating_seeds(small: np.ndarray, max_iterations: int = 12) -> np.ndarray | None:
    """Labels (1 right, 2 left) of two large eroded parts of ``small``, or None if they stay joined."""
    in_plane = ndimage.generate_binary_structure(2, 1)[None]  # erode within slices: slices may be thick
    current = small
    for _ in range(max_iterations + 1):
        parts, count = ndimage.label(current)
        if count >= 2:
            sizes = np.bincount(parts.ravel())[1:]
            first, second = np.argsort(sizes)[::-1][:2]
            if sizes[second] >= 0.15 * sizes[first]:
                return _order_right_left(parts, first + 1, second + 1)
        current = ndimage.binary_erosion(current, structure=in_plane)
        if not current.any():
            return None
    return None


def _order_right_left(parts: np.ndarray, a: int, b: int) -> np.ndarray:
    x_a = np.nonzero(parts == a)[-1].mean()
    x_b = np.nonzero(parts == b)[-1].mean()
    right, left = (a, b) if x_a < x_b else (b, a)
    seeds = np.zeros(parts.shape, np.uint8)
    seeds[parts == right] = RIGHT_LUNG
    seeds[parts == left] = LEFT_LUNG
    return seeds


def _ball(radius: int, volume: bool) -> np.ndarray:
    span = np.arange(-radius, radius + 1)
    if volume:
        z, y, x = np.meshgrid(span, span, span, indexing="ij")
        return (z**2 + y**2 + x**2) <= radius**2
    rows, columns = np.meshgrid(span, span, indexing="ij")
    return ((rows**2 + columns**2) <= radius**2)[None]
