"""Reading 2D images and masks, and writing PNGs.

Images keep their stored values (int16 HU stays int16, 8-bit stays uint8); colour images become
gray. Masks become boolean: non-zero is foreground, except 8-bit masks with intermediate values
(anti-aliased or JPEG) which are thresholded at 128.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from lungseg.errors import InputError
from lungseg.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy", ".npz")


def read_image(path: str | Path) -> np.ndarray:
    """Read a 2D image as an (H, W) array of its stored type; colour is converted to gray."""
    path = Path(path)
    _check_suffix(path, IMAGE_SUFFIXES, "image")
    if path.suffix.lower() == ".dcm":
        from lungseg.io.dicom import read_dicom_slice

        return read_dicom_slice(path)
    array = _read_raster(path)
    if array.ndim == 3:
        array = _to_gray(array, path)
    return _require_2d(array, path)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a 2D mask as an (H, W) bool array (True = foreground)."""
    path = Path(path)
    _check_suffix(path, MASK_SUFFIXES, "mask")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = _load_npy(path)
    elif suffix == ".npz":
        array = _load_npz(path)
    else:
        array = _read_raster(path)
    array = np.squeeze(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].max(axis=-1)
    array = _require_2d(array, path)
    if array.dtype == np.uint8 and len(np.unique(array)) > 2:
        return array >= 128
    return array != 0


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 gray (H, W) or RGB (H, W, 3) array as PNG, atomically."""
    from PIL import Image

    if array.dtype != np.uint8:
        raise ValueError(f"write_png: expected uint8, got {array.dtype}")
    with atomic_path(path) as temporary:
        Image.fromarray(array).save(temporary, format="PNG")


def write_mask_png(path: str | Path, mask: np.ndarray) -> None:
    """Write a bool or label mask as a PNG: binary masks as 0/255, label maps as their labels."""
    mask = np.asarray(mask)
    if mask.dtype == bool or mask.max(initial=0) <= 1:
        write_png(path, (mask > 0).astype(np.uint8) * 255)
    else:
        write_png(path, mask.astype(np.uint8))


def _check_suffix(path: Path, allowed: tuple[str, ...], kind: str) -> None:
    if path.suffix.lower() not in allowed:
        raise InputError(path, f"not a supported {kind} file type ({path.suffix or 'no suffix'}); "
                               f"supported: {', '.join(allowed)}")
    if not path.is_file():
        raise InputError(path, "file not found")


def _read_raster(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "PA", "LA", "1", "CMYK", "YCbCr", "HSV"):
                image = image.convert("RGBA" if "A" in image.mode else "RGB")
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"cannot read image ({_short(exc)})") from exc


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            shape = tiff.series[0].shape if tiff.series else ()
            if len(shape) > 2 and not (len(shape) == 3 and shape[-1] in (3, 4)):
                raise InputError(path, f"TIFF holds a stack of shape {shape}; give a 2D image")
            return tiff.pages[0].asarray()
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for corrupt files
        raise InputError(path, f"cannot read TIFF ({_short(exc)})") from exc


def _to_gray(array: np.ndarray, path: Path) -> np.ndarray:
    if array.shape[-1] not in (3, 4):
        raise InputError(path, f"expected a 2D gray or RGB(A) image, got shape {array.shape}")
    rgb = array[..., :3].astype(np.float32)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if array.dtype == np.uint8:
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return gray


def _require_2d(array: np.ndarray, path: Path) -> np.ndarray:
    array = np.squeeze(array) if array.ndim > 2 else array
    if array.ndim != 2:
        raise InputError(path, f"expected a 2D image, got shape {array.shape}")
    if min(array.shape) < 8:
        raise InputError(path, f"image too small ({array.shape[1]}x{array.shape[0]} pixels)")
    return array


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(path, f"cannot read NPY ({_short(exc)})") from exc


def _load_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            if len(keys) == 1:
                return archive[keys[0]]
            for key in ("mask", "label", "seg", "arr_0"):
                if key in keys:
                    return archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"cannot read NPZ ({_short(exc)})") from exc
    raise InputError(path, f"NPZ holds several arrays {keys}; name the mask 'mask'")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
