"""Classification sets stored as class folders, read as the classifier sees them.

Layouts: ``DIR/<split>/<class>/<image>`` (split folders train/valid/... are pooled: the classifier makes
its own duplicate-aware split, see ``slice_groups``) or ``DIR/<class>/<image>``. A sample's name is its
path relative to ``DIR`` (``train/normal/17 - Copy.png``), unique and stable across machines.

Pictures are read by ``read_picture``: 8-bit colour exports become gray with coloured marks painted out
(``preprocessing.marks``), so colour and marks carry no label; gray and HU images keep their values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lungseg.data.folders import SPLIT_FOLDERS, visible_entries
from lungseg.data.pairs import list_files
from lungseg.errors import InputError
from lungseg.io import IMAGE_SUFFIXES, read_image
from lungseg.io.images2d import read_raster, require_2d
from lungseg.preprocessing import Unmarked, paint_out_marks


@dataclass(frozen=True)
class LabelledImage:
    """``name``: path relative to the set's folder; ``label``: the class folder; ``folder``: the split
    folder it was stored in ("" without split folders)."""

    name: str
    path: Path
    label: str
    folder: str = ""


def find_labelled_images(root: str | Path) -> list[LabelledImage]:
    """Every image of a class-folder set, sorted by name. A file that is not a supported image, a class
    folder without images or fewer than two classes raise ``InputError`` naming the place."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "data folder not found")
    folders = visible_entries(root, dirs=True)
    split_folders = [f for f in folders if f.name.lower() in SPLIT_FOLDERS]
    parents = [(f, f.name) for f in split_folders] if split_folders else [(root, "")]
    found = []
    for parent, split in parents:
        stray = visible_entries(parent)
        if stray:
            raise InputError(stray[0], "file outside the class folders (expected DIR/<class>/<image>)")
        for class_folder in visible_entries(parent, dirs=True):
            found += [
                LabelledImage(path.relative_to(root).as_posix(), path, class_folder.name, split)
                for path in list_files(class_folder, IMAGE_SUFFIXES, "image")
            ]
    classes = sorted({item.label for item in found})
    if len(classes) < 2:
        raise InputError(root, f"a classification set needs at least two class folders, found {classes or 'none'}")
    return sorted(found, key=lambda item: item.name)


def class_names_of(images: list[LabelledImage]) -> list[str]:
    return sorted({item.label for item in images})


def match_class(folder: str, class_names) -> str | None:
    """The model class a class folder stands for: the folder name itself, or the class whose name begins
    it once both are lower-cased with punctuation as "_" (the Kaggle set's original folder
    "large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa" is "large_cell_carcinoma"); the longest such class
    wins; None when no class fits."""

    def key(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")

    if folder in class_names:
        return folder
    found = [name for name in class_names if key(folder) == key(name) or key(folder).startswith(key(name) + "_")]
    return max(found, key=len) if found else None


def relabelled(images: list[LabelledImage], class_names, root) -> list[LabelledImage]:
    """``images`` with each class folder mapped to a model class (``match_class``); a folder that fits no
    class raises ``InputError`` naming it and the classes."""
    mapping = {label: match_class(label, class_names) for label in {item.label for item in images}}
    unknown = sorted(label for label, name in mapping.items() if name is None)
    if unknown:
        raise InputError(root, f"class folder(s) {unknown} are not classes of the model {tuple(class_names)}")
    return [replace(item, label=mapping[item.label]) for item in images]


def read_picture(path: str | Path) -> Unmarked:
    """A picture as the classifier reads it: (H, W) gray (uint8 for 8-bit files, stored values for HU
    or 16-bit ones) with coloured marks of 8-bit colour exports painted out."""
    path = Path(path)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
        raster = read_raster(path)
        if raster.dtype == np.uint8:
            unmarked = paint_out_marks(raster)
            return Unmarked(require_2d(unmarked.gray, path), unmarked.marked_fraction)
    return Unmarked(read_image(path), 0.0)
