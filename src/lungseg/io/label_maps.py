"""Multi-class masks: label maps with one integer per class (0 background, 1..K-1 the classes).

Accepted as stored: indexed (palette) PNG, whose indices are the classes (the palette colours are only
how a viewer shows them); 8/16-bit gray PNG/TIFF, NPY/NPZ with the class numbers as values. Masks
saved as pictures of the classes (0/128/255 and the like) need a ``mapping`` from stored value to
class (``--mask-mapping 0:0,128:1,255:2``). A value outside the classes, or with no mapping, is refused
naming the file and the values, never silently merged into another class.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lungseg.errors import InputError
from lungseg.io.images2d import require_2d
from lungseg.io.masks import read_mask_array


def read_label_map(path: str | Path, classes: int, mapping: Mapping[int, int] | None = None) -> np.ndarray:
    """(H, W) uint8 class map with values in 0..``classes``-1 (``classes`` counts the background)."""
    path = Path(path)
    array = read_mask_array(path, palette_indices=True)
    if array.ndim == 3:
        raise InputError(
            path,
            "a class map must be one channel (indexed PNG or gray values), not a colour "
            "picture; save the classes as an indexed PNG or give --mask-mapping",
        )
    return as_classes(require_2d(array, path), classes, mapping, path)


def as_classes(
    array: np.ndarray, classes: int, mapping: Mapping[int, int] | None = None, source: str | Path | None = None
) -> np.ndarray:
    """Stored values -> class numbers (uint8), by ``mapping`` when given; ``InputError`` for a value
    that is no class."""
    if classes < 2 or classes > 256:
        raise ValueError(f"classes must be 2..256 (background included), got {classes}")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.mod(array[np.isfinite(array)], 1) == 0):
        raise InputError(source, "a class map holds whole numbers; this mask has fractional values")
    values = np.unique(array)
    if mapping is not None:
        unknown = [v for v in values.tolist() if int(v) not in mapping]
        if unknown:
            raise InputError(
                source,
                f"mask values {_shown(unknown)} are not in --mask-mapping "
                f"({', '.join(f'{k}:{v}' for k, v in mapping.items())})",
            )
        lookup = np.zeros(int(values.max()) + 1, np.uint8)
        for stored, target in mapping.items():
            if stored < len(lookup):
                lookup[stored] = target
        return lookup[array.astype(np.int64)]
    outside = [v for v in values.tolist() if not 0 <= v < classes]
    if outside:
        raise InputError(
            source,
            f"mask values {_shown(outside)} are not classes 0..{classes - 1}; a picture "
            "of the classes (e.g. 0/128/255) needs --mask-mapping 0:0,128:1,255:2",
        )
    return array.astype(np.uint8)


def parse_mask_mapping(text: str | None, classes: int) -> dict[int, int] | None:
    """``"0:0,128:1,255:2"`` -> {0: 0, 128: 1, 255: 2}; None or "" -> None."""
    if not text:
        return None
    mapping = {}
    for part in str(text).split(","):
        stored, _, target = part.partition(":")
        try:
            mapping[int(stored)] = int(target)
        except ValueError:
            raise ValueError(f"--mask-mapping expects STORED:CLASS pairs like 0:0,128:1,255:2, got {text!r}") from None
    if min(mapping) < 0 or not all(0 <= v < classes for v in mapping.values()):
        raise ValueError(
            f"--mask-mapping classes must be 0..{classes - 1} and stored values non-negative, got {text!r}"
        )
    return mapping


def _shown(values: list) -> str:
    return ", ".join(f"{v:g}" for v in values[:6]) + (f" and {len(values) - 6} more" if len(values) > 6 else "")
