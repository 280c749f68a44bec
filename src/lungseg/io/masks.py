"""Reading ground-truth masks, with one documented rule for what counts as foreground.

Masks come as 0/255 or 0/1 pictures, label maps (0 background, 1 right lung, 2 left lung, as lungseg
itself writes them; 0/1/2 ground-glass/consolidation), anti-aliased or JPEG-compressed pictures and
soft masks (0..100 percent, 0..1 probabilities). The rule, applied to the stored values:

1. ``labels`` given (``--mask-labels 1,2``): foreground is exactly those label values;
2. two values ``{0, v}``: foreground is non-zero;
3. whole numbers no larger than ``MAX_LABEL``: a label map, foreground is every non-zero label;
4. anything else (intermediate values): foreground is at least half of the value range the mask uses:
   0.5 of 0..1 (probabilities), 50 of 0..100 (percent), 127.5 of 0..255 (anti-aliased or JPEG),
   32767.5 of 0..65535, else half the largest value.

Masks with NaN/inf or negative values are refused, naming the file and the count.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.io.images2d import check_suffix, read_raster, require_2d
from lungseg.io.limits import MAX_IMAGE_PIXELS, check_size

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy", ".npz")
MAX_LABEL = 32
SOFT_RANGES = (1.0, 100.0, 255.0, 65535.0)
MAX_LABEL_VALUES = 8  # a mask with 2..8 distinct non-zero whole values holds labels, not anti-aliasing


def read_mask(path: str | Path, labels: Sequence[int] | None = None) -> np.ndarray:
    """Read a 2D mask as an (H, W) bool array (True = foreground) by the module's rule."""
    foreground, _ = read_mask_with_rule(path, labels)
    return foreground


def read_mask_with_rule(path: str | Path, labels: Sequence[int] | None = None) -> tuple[np.ndarray, str]:
    """The foreground and a short description of the rule that made it (for ``data check``)."""
    path = Path(path)
    return foreground_of(_stored_mask(path), path, labels)


def read_mask_with_labels(
    path: str | Path, labels: Sequence[int] | None = None
) -> tuple[np.ndarray, str, tuple[float, ...]]:
    """``read_mask_with_rule`` plus the label values found: the distinct non-zero values of a mask that
    holds 2..``MAX_LABEL_VALUES`` whole numbers (a label map such as 1 = right, 2 = left lung, or a picture
    of classes such as 0/128/255), else () (a binary, anti-aliased or soft mask, or ``labels`` given)."""
    path = Path(path)
    array = _stored_mask(path)
    foreground, rule = foreground_of(array, path, labels)
    if labels or array.dtype == bool:
        return foreground, rule, ()
    values = np.unique(array)
    nonzero = values[values != 0]
    several = 2 <= len(nonzero) <= MAX_LABEL_VALUES and bool(np.all(np.mod(nonzero, 1) == 0))
    return foreground, rule, tuple(float(v) for v in nonzero) if several else ()


def _stored_mask(path: Path) -> np.ndarray:
    array = read_mask_array(path)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].max(axis=-1)
    return require_2d(array, path)


def read_mask_array(path: Path, palette_indices: bool = False) -> np.ndarray:
    """The stored values of a mask file (NPY, NPZ or a raster), squeezed; ``palette_indices`` keeps an
    indexed PNG's indices (class maps)."""
    check_suffix(path, MASK_SUFFIXES, "mask")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.squeeze(load_npy(path))
    if suffix == ".npz":
        return np.squeeze(load_npz(path))
    return np.squeeze(read_raster(path, palette_indices=palette_indices))


def foreground_of(
    array: np.ndarray, source: str | Path | None = None, labels: Sequence[int] | None = None
) -> tuple[np.ndarray, str]:
    """Apply the rule to stored mask values; returns (bool foreground, rule description)."""
    if array.dtype == bool:
        return array, "binary"
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(source, f"mask has {bad} NaN/inf value(s)")
    if array.size and array.min() < 0:
        raise InputError(
            source,
            f"mask has negative values (minimum {array.min():g}); masks hold 0 for "
            "background and positive labels or weights",
        )
    values = np.unique(array)
    whole = bool(np.all(np.mod(values, 1) == 0))
    if labels:
        if not whole:
            raise InputError(
                source,
                f"--mask-labels needs a label mask of whole numbers, got values like "
                f"{values[np.mod(values, 1) != 0][0]:g}",
            )
        return np.isin(array, labels), f"labels {', '.join(str(v) for v in labels)}"
    nonzero = values[values != 0]
    if len(nonzero) <= 1:
        return array != 0, "binary"
    if whole and nonzero.max() <= MAX_LABEL:
        return array != 0, f"label map {', '.join(f'{v:g}' for v in nonzero[:8])}: every label is foreground"
    top = float(nonzero.max())
    scale = next((limit for limit in SOFT_RANGES if top <= limit), top)
    return array >= scale / 2, f"soft 0..{scale:g}: foreground >= {scale / 2:g}"


def parse_mask_labels(text: str | None) -> tuple[int, ...] | None:
    """``"1,2"`` -> (1, 2); None or "" -> None. Labels are positive whole numbers."""
    if not text:
        return None
    try:
        labels = tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        labels = ()
    if not labels or min(labels) < 1:
        raise ValueError(f"--mask-labels expects positive whole numbers separated by commas, got {text!r}")
    return labels


def load_npy(path: Path) -> np.ndarray:
    try:
        header = np.load(path, mmap_mode="r", allow_pickle=False)
        check_size(header.shape[:2] if header.ndim >= 2 else header.shape, path)
        return np.array(header)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(path, f"cannot read NPY ({describe(exc)})") from exc


def load_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = keys[0] if len(keys) == 1 else next((k for k in ("mask", "label", "seg", "arr_0") if k in keys), None)
            if key is None:
                raise InputError(path, f"NPZ holds several arrays {keys}; name the mask 'mask'")
            stored = archive.zip.getinfo(f"{key}.npy").file_size
            if stored > 8 * MAX_IMAGE_PIXELS:
                raise InputError(path, f"NPZ array '{key}' unpacks to {stored:.3g} bytes, more than a 2D mask")
            return archive[key]
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"cannot read NPZ ({describe(exc)})") from exc
