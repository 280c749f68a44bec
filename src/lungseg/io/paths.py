"""Output paths checked before any work is done: never over an input, never into a file's place.

Every command that writes (predict, evaluate, export, train, cv, report, data check) calls these on
its output paths first, so a bad OUTPUT costs nothing and destroys nothing:

- ``check_file_target``/``check_folder_target``: the path can be created (its nearest existing
  ancestor is a writable folder, not a file) and is not a folder where a file is meant, or a file
  where a folder is meant;
- ``refuse_overwriting_inputs``: no output is one of the inputs, however it is spelled (relative or
  absolute, through a symlink or a hard link, in another letter case on a case-insensitive file
  system: all compared with ``os.path.samefile``), and no output lies inside an input folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lungseg.errors import InputError


def check_file_target(path: str | Path) -> Path:
    """A file may be written at ``path``; returns it."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is an existing folder; give a file name (or a new folder for batch output)")
    _check_creatable(path.parent, path)
    return path


def check_folder_target(path: str | Path) -> Path:
    """Files may be written inside the folder ``path`` (existing or to be created); returns it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, "is an existing file, but a folder is needed here")
    _check_creatable(path, path)
    return path


def _check_creatable(folder: Path, shown: Path) -> None:
    ancestor = folder
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise InputError(shown, f"{ancestor} is a broken symbolic link")
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(shown, f"cannot write here: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(shown, f"cannot write here: no write permission in {ancestor}")


def refuse_overwriting_inputs(
    outputs: Iterable[str | Path], input_files: Iterable[str | Path], input_folders: Iterable[str | Path] = ()
) -> None:
    """Raise ``InputError`` naming the output if it is one of ``input_files`` or lies inside (or is)
    one of ``input_folders``."""
    files = [Path(p) for p in input_files]
    folders = [Path(p) for p in input_folders]
    for output in (Path(p) for p in outputs):
        if output.exists():
            source = next((source for source in files if _same(output, source)), None)
            if source is not None:
                raise InputError(
                    output,
                    f"is the input {source}; lungseg never writes over its input "
                    "(choose another output name or folder)",
                )
        folder = next((folder for folder in folders if _inside(output, folder)), None)
        if folder is not None:
            raise InputError(output, f"lies inside the input folder {folder}; write outputs elsewhere")


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it, comparing existing ancestors as files."""
    candidate = Path(os.path.abspath(path))
    while True:
        if candidate.exists() and _same(candidate, folder):
            return True
        if candidate.parent == candidate:
            return False
        candidate = candidate.parent


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
