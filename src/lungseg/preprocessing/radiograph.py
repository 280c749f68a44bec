"""Radiograph intensities: robust percentile normalisation and optional CLAHE, for any bit depth.

A chest radiograph reaches lungseg as 8-bit PNG/JPG exports, RGB screenshots or 12/16-bit DX/CR pixel
data already through the DICOM modality and VOI LUTs (``lungseg.io.radiograph``: bright = dense, as
shown). Their value ranges differ by orders of magnitude and carry burned-in labels, black collimation
borders and anonymisation boxes, so the intensity is normalised per image by percentiles rather than
by a fixed scale: ``[p_low, p_high]`` -> [0, 1], clipped. CLAHE (contrast-limited adaptive histogram
equalisation, OpenCV's, 8x8 tiles, on 256 levels) then evens out exposure differences between hospitals when the
plan asks for it.
"""

from __future__ import annotations

import numpy as np

XRAY = "xray"
HU_AIR = -500.0  # radiograph pixel data never goes this low; CT in Hounsfield units always does (air)


def normalize_radiograph(
    image: np.ndarray, low: float = 0.5, high: float = 99.5, clahe_clip: float = 0.0
) -> np.ndarray:
    """(H, W) radiograph of any numeric type -> (H, W) float32 in [0, 1].

    ``low``/``high``: percentiles (0..100) mapped to 0 and 1; ``clahe_clip``: CLAHE clip limit (OpenCV's
    units, 2.0 is usual), 0 for none. A flat image becomes all zeros."""
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got low={low}, high={high}")
    if clahe_clip < 0:
        raise ValueError(f"clahe_clip must be >= 0, got {clahe_clip}")
    values = np.asarray(image, dtype=np.float32)
    sample = values[::4, ::4] if values.size > 1_000_000 else values  # percentiles of a 4x4 subsample
    floor, ceiling = (float(v) for v in np.percentile(sample, [low, high]))
    if ceiling <= floor:
        return np.zeros(values.shape, np.float32)
    scaled = np.clip((values - np.float32(floor)) / np.float32(ceiling - floor), 0.0, 1.0)
    if clahe_clip > 0:
        scaled = equalize(scaled, clahe_clip)
    return scaled


def equalize(scaled: np.ndarray, clip: float, tiles: int = 8) -> np.ndarray:
    """CLAHE on a [0, 1] float image, on 256 levels as usual (OpenCV's 16-bit CLAHE spreads its clip
    limit over 65536 bins and saturates a 12-bit image)."""
    import cv2

    levels = np.rint(scaled * 255).astype(np.uint8)
    equalized = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=(tiles, tiles)).apply(levels)
    return equalized.astype(np.float32) / np.float32(255.0)


def looks_like_hu(image: np.ndarray) -> bool:
    """Whether the pixel values reach air in Hounsfield units (CT), which radiograph data never does."""
    return float(np.min(image)) < HU_AIR


def radiograph_display(image: np.ndarray) -> np.ndarray:
    """(H, W) radiograph -> (H, W) uint8 gray for overlays (percentile-normalised, no CLAHE)."""
    return np.rint(normalize_radiograph(image) * 255).astype(np.uint8)
