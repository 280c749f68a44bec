"""Find image/mask pairs: same file stem in an images folder and a masks folder.

A mask may also carry a conventional suffix after the image stem (``1.jpg`` <-> ``1-mask.png``,
``_mask``, ``_seg``, ``_label``). Hidden files are ignored; any other file that is not a supported
image, an image without a mask, or an empty folder raises ``InputError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lungseg.data.folders import IGNORED_NAMES
from lungseg.errors import InputError
from lungseg.io import IMAGE_SUFFIXES, MASK_SUFFIXES

MASK_STEM_SUFFIXES = ("", "_mask", "-mask", "_seg", "_label", "_labels")


@dataclass(frozen=True)
class Pair:
    name: str
    image: Path
    mask: Path


def resolve_folders(
    data: str | Path | None, images: str | Path | None = None, masks: str | Path | None = None
) -> tuple[Path, Path]:
    """``DIR`` -> (DIR/images, DIR/masks), or the explicit folders."""
    if images is not None or masks is not None:
        if images is None or masks is None:
            raise InputError(images or masks, "give both --images and --masks")
        return Path(images), Path(masks)
    if data is None:
        raise InputError(
            None, "no data given: use --data DIR (with DIR/images and DIR/masks) or --images DIR --masks DIR"
        )
    return Path(data) / "images", Path(data) / "masks"


def list_files(folder: Path, suffixes: tuple[str, ...], kind: str) -> list[Path]:
    """Supported files in ``folder`` (sorted); any other visible file is an error naming it."""
    if not folder.is_dir():
        raise InputError(folder, f"{kind} folder not found")
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in IGNORED_NAMES or path.is_dir():
            continue
        if path.suffix.lower() not in suffixes:
            raise InputError(
                path, f"not a supported {kind} file ({path.suffix or 'no suffix'}); supported: {', '.join(suffixes)}"
            )
        files.append(path)
    if not files:
        raise InputError(folder, f"no {kind} files found (supported: {', '.join(suffixes)})")
    return files


def find_pairs(images: Path, masks: Path) -> list[Pair]:
    """Match every image to its mask by stem; masks without an image are ignored."""
    image_files = list_files(images, IMAGE_SUFFIXES, "image")
    masks_by_stem = {}
    for path in list_files(masks, MASK_SUFFIXES, "mask"):
        if path.stem in masks_by_stem:
            raise InputError(path, f"two masks share the stem {path.stem!r} (also {masks_by_stem[path.stem].name})")
        masks_by_stem[path.stem] = path
    pairs, seen = [], set()
    for image in image_files:
        if image.stem in seen:
            raise InputError(image, f"two images share the stem {image.stem!r}")
        seen.add(image.stem)
        mask = mask_for(image, masks_by_stem)
        if mask is None:
            raise InputError(image, f"no mask for this image in {masks} (expected {image.stem}.png/.tif/...)")
        pairs.append(Pair(image.stem, image, mask))
    return pairs


def mask_for(image: Path, masks_by_stem: dict[str, Path]) -> Path | None:
    """The mask of ``image`` among masks keyed by stem (same stem, or stem + a mask suffix), or None."""
    return next(
        (masks_by_stem[image.stem + suffix] for suffix in MASK_STEM_SUFFIXES if image.stem + suffix in masks_by_stem),
        None,
    )
