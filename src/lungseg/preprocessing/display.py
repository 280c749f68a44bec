"""Pictures for people: one place for window presets, label colours and outline rendering.

Every overlay lungseg draws (prediction overlays and montages, report example grids, TensorBoard
images) uses these functions, so a label has one colour everywhere and a CT is shown in one window.

- ``to_display``: stored image -> uint8 gray by one intensity-kind rule (HU in the lung window,
  8-bit pictures as they are).
- ``label_overlay``: gray + label map -> RGB with each label tinted (``alpha``) and outlined in its colour.
- ``comparison_overlay``: gray + ground truth + prediction -> RGB, truth outlined green, prediction red,
  their overlap tinted yellow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lungseg.preprocessing.intensity import HU, WINDOWS, apply_window, intensity_kind


@dataclass(frozen=True)
class LabelStyle:
    name: str
    colour: tuple[int, int, int]


LABEL_STYLES: dict[int, LabelStyle] = {
    1: LabelStyle("right lung", (255, 64, 64)),
    2: LabelStyle("left lung", (64, 160, 255)),
    3: LabelStyle("label 3", (255, 200, 0)),
}
TRUTH_COLOUR = (0, 255, 0)
PREDICTION_COLOUR = (255, 0, 0)
OVERLAP_COLOUR = (255, 255, 0)


def style_of(label: int) -> LabelStyle:
    """The style of ``label``; labels past the table share its last colour."""
    return LABEL_STYLES.get(int(label), LABEL_STYLES[max(LABEL_STYLES)])


def to_display(image: np.ndarray, window: tuple[float, float] = WINDOWS["lung"]) -> np.ndarray:
    """(H, W) stored image -> (H, W) uint8 gray: HU through ``window`` (level, width), 8-bit as stored."""
    image = np.asarray(image)
    scaled = apply_window(image, *window) if intensity_kind(image) == HU else np.clip(image.astype(np.float32) / 255.0, 0, 1)
    return np.rint(scaled * 255).astype(np.uint8)


def outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """The inner border of a bool mask, ``thickness`` pixels wide."""
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, iterations=max(1, thickness), border_value=0)


def label_overlay(gray: np.ndarray, labels: np.ndarray, alpha: float = 0.35, thickness: int = 1) -> np.ndarray:
    """(H, W) uint8 gray + (H, W) labels (0 background) -> (H, W, 3) uint8 RGB; ``alpha`` 0 draws outlines only."""
    rgb = np.repeat(np.asarray(gray, np.float32)[..., None], 3, axis=2)
    labels = np.asarray(labels)
    for label in np.unique(labels):
        if label == 0:
            continue
        colour = np.array(style_of(label).colour, np.float32)
        region = labels == label
        if alpha:
            rgb[region] = (1 - alpha) * rgb[region] + alpha * colour
        rgb[outline(region, thickness)] = colour
    return np.clip(rgb, 0, 255).astype(np.uint8)


def comparison_overlay(gray: np.ndarray, truth: np.ndarray, prediction: np.ndarray, thickness: int = 1) -> np.ndarray:
    """(H, W) uint8 gray + bool truth and prediction -> (H, W, 3) uint8 RGB (module docstring)."""
    rgb = np.repeat(np.asarray(gray, np.float32)[..., None], 3, axis=2)
    truth, prediction = np.asarray(truth, bool), np.asarray(prediction, bool)
    both = truth & prediction
    rgb[both] = 0.6 * rgb[both] + 0.4 * np.array(OVERLAP_COLOUR, np.float32)
    for mask, colour in ((truth, TRUTH_COLOUR), (prediction, PREDICTION_COLOUR)):
        rgb[outline(mask, thickness)] = colour
    return np.clip(rgb, 0, 255).astype(np.uint8)
