"""Reading 2D images and masks, and writing PNGs.

Images keep their stored values (int16 HU stays int16, 8-bit stays uint8); colour images become
gray; a DICOM radiograph (CR/DX) comes through its VOI LUT with MONOCHROME1 inverted
(``io.dicom_radiograph``). The size in the file's header is checked against ``limits.MAX_IMAGE_PIXELS`` before any pixel
is decoded. Masks are read by ``lungseg.io.masks``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.io.atomic import atomic_path
from lungseg.io.dicom import read_dicom_header, read_dicom_slice
from lungseg.io.dicom_radiograph import is_radiograph_header, read_radiograph_dicom
from lungseg.io.limits import check_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")


def read_image(path: str | Path) -> np.ndarray:
    """Read a 2D image as an (H, W) array of its stored type; colour is converted to gray."""
    path = Path(path)
    check_suffix(path, IMAGE_SUFFIXES, "image")
    if path.suffix.lower() == ".dcm":
        header = read_dicom_header(path)
        if header is not None and is_radiograph_header(header):
            return read_radiograph_dicom(path).pixels  # VOI LUT applied, MONOCHROME1 inverted
        return read_dicom_slice(path)
    array = read_raster(path)
    if array.ndim == 3:
        array = _to_gray(array, path)
    return require_2d(array, path)


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


def write_label_png(path: str | Path, labels: np.ndarray, colours: dict[int, tuple[int, int, int]]) -> None:
    """Write an (H, W) label map as an indexed (palette) PNG: pixel values are the labels, and viewers
    show each label in its colour (``colours``: label -> RGB; 0 is black). Read back with
    ``lungseg.io.label_maps`` (palette indices kept)."""
    from PIL import Image

    labels = np.asarray(labels)
    if labels.dtype != np.uint8:
        raise ValueError(f"write_label_png: expected uint8 labels, got {labels.dtype}")
    palette = np.zeros((256, 3), np.uint8)
    for value, colour in colours.items():
        palette[value] = colour
    image = Image.fromarray(labels, mode="P")
    image.putpalette(palette.ravel().tolist())
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG")


def check_suffix(path: Path, allowed: tuple[str, ...], kind: str) -> None:
    if path.suffix.lower() not in allowed:
        raise InputError(
            path, f"not a supported {kind} file type ({path.suffix or 'no suffix'}); supported: {', '.join(allowed)}"
        )
    if not path.is_file():
        raise InputError(path, "file not found")


def read_raster(path: Path, palette_indices: bool = False) -> np.ndarray:
    """The stored pixels; a palette image becomes RGB, or its indices with ``palette_indices`` (label
    maps saved as indexed PNG keep their class numbers that way)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # PIL warns before its own (higher) size limit; ours comes first
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            check_size(image.size[::-1], path)
            image.load()
            if palette_indices and image.mode == "P":
                return np.asarray(image)
            if image.mode in ("P", "PA", "LA", "1", "CMYK", "YCbCr", "HSV"):
                image = image.convert("RGBA" if "A" in image.mode else "RGB")
            return np.asarray(image)
    except Image.DecompressionBombError as exc:  # PIL's own (higher) bound, hit while reading the header
        raise InputError(path, f"the header claims an image larger than lungseg handles ({describe(exc)})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(path, f"cannot read image ({describe(exc)})") from exc


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            shape = tiff.series[0].shape if tiff.series else ()
            if len(shape) > 2 and not (len(shape) == 3 and shape[-1] in (3, 4)):
                raise InputError(path, f"TIFF holds a stack of shape {shape}; give a 2D image")
            page = tiff.pages[0]
            check_size(page.shape[:2], path)
            return page.asarray()
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for corrupt files
        raise InputError(path, f"cannot read TIFF ({describe(exc)})") from exc


def _to_gray(array: np.ndarray, path: Path) -> np.ndarray:
    if array.shape[-1] not in (3, 4):
        raise InputError(path, f"expected a 2D gray or RGB(A) image, got shape {array.shape}")
    rgb = array[..., :3].astype(np.float32)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if array.dtype == np.uint8:
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return gray


def require_2d(array: np.ndarray, path: Path) -> np.ndarray:
    array = np.squeeze(array) if array.ndim > 2 else array
    if array.ndim != 2:
        raise InputError(path, f"expected a 2D image, got shape {array.shape}")
    if min(array.shape) < 8:
        raise InputError(path, f"image too small ({array.shape[1]}x{array.shape[0]} pixels)")
    return array
