"""Pictures for people: one place for window presets, label colours and outline rendering.

Every overlay lungseg draws (prediction overlays and montages, report example grids, TensorBoard
images) uses these functions, so a label has one colour everywhere (its ``lungseg.labels`` class) and
a CT is shown in one window.

- ``to_display``: stored image -> uint8 gray by one intensity-kind rule (HU in the lung window,
  8-bit pictures as they are).
- ``label_overlay``: gray + label map -> RGB with each label tinted (``alpha``) and outlined in its colour.
- ``comparison_overlay``: gray + ground truth + prediction -> RGB, truth outlined green, prediction red,
  their overlap tinted yellow.
"""

from __future__ import annotations

import numpy as np

from lungseg.labels import ABNORMAL, TABLE, LabelClass, label_class
from lungseg.preprocessing.intensity import HU, WINDOWS, apply_window, intensity_kind

TRUTH_COLOUR = (0, 255, 0)
PREDICTION_COLOUR = (255, 0, 0)
OVERLAP_COLOUR = (255, 255, 0)


def to_display(image: np.ndarray, window: tuple[float, float] = WINDOWS["lung"]) -> np.ndarray:
    """(H, W) stored image -> (H, W) uint8 gray: HU through ``window`` (level, width), 8-bit as stored."""
    image = np.asarray(image)
    scaled = (
        apply_window(image, *window) if intensity_kind(image) == HU else np.clip(image.astype(np.float32) / 255.0, 0, 1)
    )
    return np.rint(scaled * 255).astype(np.uint8)


def outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """The inner border of a bool mask, ``thickness`` pixels wide."""
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, iterations=max(1, thickness), border_value=0)


def label_overlay(
    gray: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.35,
    thickness: int = 1,
    classes: tuple[LabelClass, ...] = TABLE,
    lesion_alpha: float = 0.5,
) -> np.ndarray:
    """(H, W) uint8 gray + (H, W) labels (0 background) -> (H, W, 3) uint8 RGB, each label in its class's
    colour (``lungseg.labels``); ``alpha`` 0 draws outlines only; lesion classes are always tinted
    (``lesion_alpha``), so small lesions show inside outlined lungs."""
    rgb = np.repeat(np.asarray(gray, np.float32)[..., None], 3, axis=2)
    labels = np.asarray(labels)
    for label in np.unique(labels):
        if label == 0:
            continue
        known = label_class(label, classes)
        colour = np.array(known.colour, np.float32)
        region = labels == label
        tint = lesion_alpha if known.category == ABNORMAL else alpha
        if tint:
            rgb[region] = (1 - tint) * rgb[region] + tint * colour
        rgb[outline(region, thickness)] = colour
    return np.clip(rgb, 0, 255).astype(np.uint8)


def with_legend(picture: np.ndarray, classes: tuple[LabelClass, ...]) -> np.ndarray:
    """(H, W, 3) uint8 overlay -> the same with a strip below naming each class next to its colour."""
    import cv2

    height, width = 20, picture.shape[1]
    strip = np.zeros((height, width, 3), np.uint8)
    x = 6
    for label in classes:
        text = label.name
        size = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)[0][0]
        if x + 16 + size > width:
            break
        strip[5:15, x : x + 10] = label.colour
        cv2.putText(strip, text, (x + 14, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        x += 26 + size
    return np.vstack([picture, strip])


def comparison_overlay(gray: np.ndarray, truth: np.ndarray, prediction: np.ndarray, thickness: int = 1) -> np.ndarray:
    """(H, W) uint8 gray + bool truth and prediction -> (H, W, 3) uint8 RGB (module docstring)."""
    rgb = np.repeat(np.asarray(gray, np.float32)[..., None], 3, axis=2)
    truth, prediction = np.asarray(truth, bool), np.asarray(prediction, bool)
    both = truth & prediction
    rgb[both] = 0.6 * rgb[both] + 0.4 * np.array(OVERLAP_COLOUR, np.float32)
    for mask, colour in ((truth, TRUTH_COLOUR), (prediction, PREDICTION_COLOUR)):
        rgb[outline(mask, thickness)] = colour
    return np.clip(rgb, 0, 255).astype(np.uint8)


def heat_overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """(H, W) uint8 picture and (H, W) heat map in [0, 1] -> (H, W, 3) uint8: the picture in gray with
    the heat in the 'jet' colours blended over it where the heat is above 0.1 (blue low, red high)."""
    import cv2

    if gray.shape != heat.shape:
        raise ValueError(f"heat_overlay: picture {gray.shape} and heat map {heat.shape} differ in shape")
    base = np.repeat(np.asarray(gray, np.uint8)[..., None], 3, axis=-1).astype(np.float32)
    colours = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    weight = (alpha * np.clip((heat - 0.1) / 0.9, 0, 1))[..., None]
    return np.clip(base * (1 - weight) + colours.astype(np.float32) * weight, 0, 255).astype(np.uint8)
