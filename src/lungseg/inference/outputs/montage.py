"""Overlay montages of a volume result: axial tiles and coronal planes with each lung outlined.

Right lung red, left lung blue; the patient's right is on the image left (radiological convention) and
marked "R"; coronal planes have the head at the top and square millimetres. Flagged slices (low flip
agreement) get a yellow frame, and a flagged study a banner with the reason.
"""

from __future__ import annotations

import numpy as np

from lungseg.labels import SPLIT_LUNGS, LabelClass
from lungseg.preprocessing import WINDOWS
from lungseg.preprocessing.display import label_overlay, to_display

TILE = 256
YELLOW = (255, 220, 0)


def axial_montage(
    hu: np.ndarray,
    labels: np.ndarray,
    flagged_slices: list[int],
    banner: str | None,
    tiles: int = 12,
    window: tuple[float, float] = WINDOWS["lung"],
    classes: tuple[LabelClass, ...] = SPLIT_LUNGS,
) -> np.ndarray:
    """(Z, Y, X) canonical HU and labels -> RGB montage of up to ``tiles`` axial slices through the lungs,
    superior first."""
    rows = np.nonzero(labels.reshape(len(labels), -1).any(axis=1))[0]
    span = (rows[0], rows[-1]) if len(rows) else (0, len(labels) - 1)
    chosen = np.unique(np.linspace(span[1], span[0], min(tiles, span[1] - span[0] + 1)).round().astype(int))[::-1]
    pictures = []
    for z in chosen:
        picture = _outlined(hu[z], labels[z], window, (TILE, TILE), classes)
        _caption(picture, f"slice {z}")
        if z in flagged_slices:
            _frame(picture, YELLOW)
        pictures.append(picture)
    return _with_banner(_grid(pictures, columns=4), banner)


def coronal_montage(
    hu: np.ndarray,
    labels: np.ndarray,
    spacing: tuple[float, float, float] | None,
    banner: str | None,
    planes: int = 3,
    window: tuple[float, float] = WINDOWS["lung"],
    classes: tuple[LabelClass, ...] = SPLIT_LUNGS,
) -> np.ndarray:
    """Coronal planes at 30/50/70 % of the lungs' anterior-posterior extent, head up."""
    columns = np.nonzero(labels.any(axis=(0, 2)))[0]
    low, high = (columns[0], columns[-1]) if len(columns) else (0, labels.shape[1] - 1)
    x_mm, _, z_mm = spacing if spacing else (1.0, 1.0, 1.0)
    height = max(16, int(round(TILE * labels.shape[0] * z_mm / (labels.shape[2] * x_mm))))
    pictures = []
    for fraction in np.linspace(0.3, 0.7, planes):
        y = int(round(low + fraction * (high - low)))
        picture = _outlined(hu[::-1, y, :], labels[::-1, y, :], window, (TILE, height), classes)
        _caption(picture, f"coronal {y}")
        pictures.append(picture)
    return _with_banner(_grid(pictures, columns=planes), banner)


def _outlined(
    plane: np.ndarray,
    labels: np.ndarray,
    window: tuple[float, float],
    size: tuple[int, int],
    classes: tuple[LabelClass, ...],
) -> np.ndarray:
    import cv2

    gray = cv2.resize(to_display(plane, window), size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(labels.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    picture = label_overlay(gray, small, alpha=0.0, classes=classes)
    cv2.putText(picture, "R", (4, size[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return picture


def _caption(picture: np.ndarray, text: str) -> None:
    import cv2

    cv2.putText(picture, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)


def _frame(picture: np.ndarray, colour: tuple[int, int, int]) -> None:
    picture[:3], picture[-3:], picture[:, :3], picture[:, -3:] = colour, colour, colour, colour


def _grid(pictures: list[np.ndarray], columns: int) -> np.ndarray:
    height = max(p.shape[0] for p in pictures)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in pictures]
    padded += [np.zeros_like(padded[0])] * (-len(padded) % columns)
    return np.vstack([np.hstack(padded[i : i + columns]) for i in range(0, len(padded), columns)])


def _with_banner(picture: np.ndarray, banner: str | None) -> np.ndarray:
    import cv2

    if not banner:
        return picture
    strip = np.zeros((22, picture.shape[1], 3), np.uint8)
    strip[:] = (120, 90, 0)
    cv2.putText(strip, banner[:140], (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, YELLOW, 1, cv2.LINE_AA)
    return np.vstack([strip, picture])
