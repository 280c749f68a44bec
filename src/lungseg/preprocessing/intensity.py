"""Intensity handling: tell HU CT from 8-bit pictures, window HU to [0, 1], and invert it.

Windows are given as level (center) and width in HU: lung L-600/W1500, body (mediastinum) L40/W400.
"""

from __future__ import annotations

import numpy as np

WINDOWS: dict[str, tuple[float, float]] = {"lung": (-600.0, 1500.0), "body": (40.0, 400.0)}

HU = "hu"
EIGHT_BIT = "8bit"


def intensity_kind(image: np.ndarray) -> str:
    """``"8bit"`` for uint8 data or whole numbers within 0..255, otherwise ``"hu"``.

    Real CT always holds negative HU (air is about -1000), so an image whose values stay inside
    0..255 is a picture (PNG/JPEG screenshot, windowed export) rather than calibrated CT.
    """
    if image.dtype == np.uint8 or image.dtype == bool:
        return EIGHT_BIT
    low, high = float(image.min()), float(image.max())
    if low >= 0 and high <= 255 and (np.issubdtype(image.dtype, np.integer) or high > 1.0):
        return EIGHT_BIT
    return HU


HU_OFFSETS = (1024, 32768)  # what CT exports add to store HU as unsigned values (air at about 0 or 31744)


def stored_hu_offset(image: np.ndarray) -> int | None:
    """The offset (``HU_OFFSETS``) a non-negative, non-8-bit integer image holds CT in Hounsfield units
    with, else None: once subtracted, its air lies near -1000 HU and it shows what a CT slice does and a
    16-bit radiograph does not: at least 15 % soft tissue (-200..200 HU; kmader slices 26-38 %, Montgomery
    films stored the same way at most 13 %), at least 5 % air below -500 HU, under a third as much in the
    -500..-200 HU gap between them (CT 4-7 % against 26-38 %; films 5-15 % against 6-13 %) and nothing
    above 4000 HU."""
    if not np.issubdtype(image.dtype, np.integer) or image.size == 0 or intensity_kind(image) == EIGHT_BIT:
        return None
    low, high = int(image.min()), int(image.max())
    if low < 0:
        return None
    sample = image[::2, ::2] if image.ndim == 2 and image.size > 1_000_000 else image
    for offset in HU_OFFSETS:
        if not -3100 <= low - offset <= -900 or high - offset > 4000:
            continue
        hu = sample.astype(np.int32) - offset
        soft = float(np.mean((hu > -200) & (hu < 200)))
        air = float(np.mean(hu < -500))
        gap = float(np.mean((hu >= -500) & (hu <= -200)))
        if soft >= 0.15 and air >= 0.05 and gap * 3 <= soft:
            return offset
    return None


def apply_window(image: np.ndarray, center: float, width: float) -> np.ndarray:
    """Clip HU to ``[center - width/2, center + width/2]`` and scale linearly to float32 [0, 1]."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    low = center - width / 2.0
    scaled = (image.astype(np.float32) - np.float32(low)) / np.float32(width)
    return np.clip(scaled, 0.0, 1.0)


def invert_window(scaled: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map [0, 1] back to HU; values that were clipped by the window come back as the window edges."""
    return scaled.astype(np.float32) * np.float32(width) + np.float32(center - width / 2.0)


def scale_8bit(image: np.ndarray) -> np.ndarray:
    """Scale 0..255 to float32 [0, 1]."""
    return np.clip(image.astype(np.float32) / 255.0, 0.0, 1.0)


def nonfinite_count(image: np.ndarray) -> int:
    """How many values are NaN or infinite (always 0 for integer images)."""
    if not np.issubdtype(image.dtype, np.floating):
        return 0
    return int(image.size - np.count_nonzero(np.isfinite(image)))


def fill_nonfinite(image: np.ndarray, empty_value: float) -> np.ndarray:
    """A copy of a (H, W) or (Z, Y, X) float image whose NaN/inf values take the value of the nearest
    finite pixel in the same slice; a slice with no finite pixel is set to ``empty_value``. Works slice
    by slice, so memory stays at a few slices' worth of indices."""
    from scipy.ndimage import distance_transform_edt

    filled = np.array(image, dtype=np.float32, copy=True)
    slices = filled[None] if filled.ndim == 2 else filled
    for plane in slices:
        bad = ~np.isfinite(plane)
        if not bad.any():
            continue
        if bad.all():
            plane[...] = empty_value
            continue
        nearest = distance_transform_edt(bad, return_distances=False, return_indices=True)
        plane[bad] = plane[tuple(index[bad] for index in nearest)]
    return filled
