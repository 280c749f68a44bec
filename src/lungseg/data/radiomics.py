"""Hand-made radiomics features of one 8-bit axial chest CT slice picture, for a linear baseline.

No network is involved, so the features depend only on the picture:

1. **Scale**: the body outline (the largest bright component, holes filled) is resized to
   ``BODY_WIDTH`` pixels wide, a fixed physical scale as far as adult chests go; the crop, zoom and
   screenshot size of an export therefore do not matter.
2. **Intensity units**: gray values are mapped so that the lungs' median is 0 and soft tissue's median
   is 1 (each export has its own window; this undoes a linear window change).
3. **Regions**: the *lung fields* are the dark pixels inside the body (``LUNG_LEVEL`` of the way from
   lung to tissue), without components touching the body's edge, and with their holes filled; the
   *lesion* is the largest soft-tissue component inside the filled lung fields (a tumour, a nodule, or
   the hilum where there is none).
4. **Features** (``FEATURE_NAMES``): shape (lung share of the body, lesion area, eccentricity,
   solidity, compactness and position), intensity (quantiles, skewness and kurtosis of lung and lesion
   pixels) and texture (GLCM contrast, homogeneity, energy, correlation at 1, 2 and 4 px over the lung
   fields, and in a margin band around the lesion; a uniform LBP histogram of the lung fields).
"""

from __future__ import annotations

import numpy as np

BODY_WIDTH = 256  # px: the body outline's width after rescaling
LUNG_LEVEL = 0.5  # lung pixels: below this fraction of the way from lung median to tissue median
GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 2, 4)
GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")
LBP_POINTS = 8


def _names() -> tuple[str, ...]:
    shape = (
        "lung_share",
        "lung_balance",
        "lesion_area",
        "lesion_eccentricity",
        "lesion_solidity",
        "lesion_compactness",
        "lesion_x",
        "lesion_y",
        "lesion_depth",
    )
    intensity = tuple(
        f"{region}_{stat}"
        for region in ("lung", "lesion")
        for stat in ("q10", "q50", "q90", "mean", "sd", "skew", "kurtosis")
    )
    texture = tuple(
        f"{region}_glcm_{prop}_{d}" for region in ("lung", "margin") for prop in GLCM_PROPS for d in GLCM_DISTANCES
    )
    lbp = tuple(f"lung_lbp_{i}" for i in range(LBP_POINTS + 2))
    return shape + intensity + texture + lbp


FEATURE_NAMES = _names()


def radiomics_features(gray: np.ndarray) -> np.ndarray:
    """The feature vector (len(FEATURE_NAMES),) float64 of a (H, W) 8-bit gray picture; a picture
    without a body or lungs gives zeros for what it lacks (never NaN)."""
    from scipy import ndimage

    image = np.asarray(gray)
    if image.ndim != 2 or min(image.shape) < 8:
        raise ValueError(f"radiomics_features: gray must be a (H, W) picture of at least 8x8, got {image.shape}")
    image = image.astype(np.float32)
    body = _largest(image > 40)
    if not body.any():
        return np.zeros(len(FEATURE_NAMES))
    body = ndimage.binary_fill_holes(body)
    image, body = _rescaled(image, body)
    inside = image[body]
    lung_level = float(np.percentile(inside, 10))
    tissue_level = float(np.median(inside[inside > np.percentile(inside, 50)]))
    units = (image - lung_level) / max(tissue_level - lung_level, 1.0)
    lungs = body & (units < LUNG_LEVEL) & ~_touching_edge(body & (units < LUNG_LEVEL), body)
    lungs = _drop_small(lungs, 0.005 * body.sum())
    fields = ndimage.binary_fill_holes(lungs)
    lesion = _largest(fields & ~lungs)
    return np.concatenate(
        [
            _shape(body, lungs, fields, lesion),
            _intensity(units, lungs),
            _intensity(units, lesion),
            _glcm(units, lungs),
            _glcm(units, _margin(lesion, fields)),
            _lbp(units, lungs),
        ]
    )


def _rescaled(image: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the body's box and resize so the body is ``BODY_WIDTH`` px wide."""
    import cv2

    rows, cols = np.nonzero(body)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    scale = BODY_WIDTH / (right - left)
    size = (BODY_WIDTH, max(8, round((bottom - top) * scale)))
    crop = cv2.resize(image[top:bottom, left:right], size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(body[top:bottom, left:right].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return crop, mask


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return np.zeros_like(mask, dtype=bool)
    return labels == 1 + int(np.argmax(ndimage.sum(mask, labels, range(1, count + 1))))


def _drop_small(mask: np.ndarray, minimum: float) -> np.ndarray:
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum(mask, labels, range(1, count + 1))
    return np.isin(labels, 1 + np.flatnonzero(sizes >= minimum))


def _touching_edge(mask: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Components of ``mask`` that reach the body's outer 2-px band (air outside, not lungs)."""
    from scipy import ndimage

    labels, _ = ndimage.label(mask)
    edge = body & ~ndimage.binary_erosion(body, iterations=2)
    touching = np.unique(labels[edge & mask])
    return np.isin(labels, touching[touching > 0])


def _margin(lesion: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """The lesion and a 4-px band around it, within the lung fields."""
    from scipy import ndimage

    return ndimage.binary_dilation(lesion, iterations=4) & (fields | lesion) if lesion.any() else lesion


def _shape(body, lungs, fields, lesion) -> np.ndarray:
    from skimage.measure import regionprops

    lung_area, half = float(lungs.sum()), lungs.shape[1] // 2
    balance = (lungs[:, :half].sum() - lungs[:, half:].sum()) / lung_area if lung_area else 0.0
    if not lesion.any():
        return np.array([lung_area / body.sum(), balance, 0, 0, 0, 0, 0, 0, 0], np.float64)
    props = regionprops(lesion.astype(np.uint8))[0]
    rows, cols = np.nonzero(fields) if fields.any() else np.nonzero(body)
    cy, cx = props.centroid
    x = (cx - cols.min()) / max(np.ptp(cols), 1)
    y = (cy - rows.min()) / max(np.ptp(rows), 1)
    from scipy import ndimage

    depth = float(ndimage.distance_transform_edt(fields)[lesion].max()) / np.sqrt(max(fields.sum(), 1))
    return np.array(
        [
            lung_area / body.sum(),
            balance,
            props.area / max(fields.sum(), 1),
            props.eccentricity,
            props.solidity,
            props.perimeter**2 / (4 * np.pi * props.area),
            abs(x - 0.5),
            y,
            depth,
        ]
    )


def _intensity(units: np.ndarray, mask: np.ndarray) -> np.ndarray:
    values = units[mask].astype(np.float64)
    if values.size < 4:
        return np.zeros(7)
    sd = values.std()
    centred = (values - values.mean()) / (sd if sd > 0 else 1.0)
    return np.array(
        [*np.percentile(values, (10, 50, 90)), values.mean(), sd, (centred**3).mean(), (centred**4).mean() - 3.0]
    )


def _glcm(units: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """GLCM properties over the mask's box (pixels outside the mask are level 0 and left out)."""
    from skimage.feature import graycomatrix, graycoprops

    if mask.sum() < 16:
        return np.zeros(len(GLCM_PROPS) * len(GLCM_DISTANCES))
    rows, cols = np.nonzero(mask)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    levels = np.clip(np.round(units[box] * (GLCM_LEVELS - 2) / 1.5), 0, GLCM_LEVELS - 2).astype(np.uint8) + 1
    levels[~mask[box]] = 0
    matrix = graycomatrix(levels, list(GLCM_DISTANCES), [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=GLCM_LEVELS)
    matrix[0, :, :, :] = 0
    matrix[:, 0, :, :] = 0
    matrix = matrix.astype(np.float64)
    totals = matrix.sum(axis=(0, 1), keepdims=True)
    matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    return np.concatenate([np.nan_to_num(graycoprops(matrix, prop).mean(axis=1)) for prop in GLCM_PROPS])


def _lbp(units: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    if mask.sum() < 16:
        return np.zeros(LBP_POINTS + 2)
    quantised = np.clip(units * 64, 0, 255).astype(np.uint8)
    codes = local_binary_pattern(quantised, LBP_POINTS, 1, method="uniform")[mask]
    return np.bincount(codes.astype(int), minlength=LBP_POINTS + 2)[: LBP_POINTS + 2] / codes.size
