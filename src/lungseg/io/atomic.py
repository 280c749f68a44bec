"""Atomic file output: write to a hidden temporary file beside the target, then rename over it.

A crash or an error half-way never leaves a truncated file, and an existing file is replaced only
once the new one is complete. ``staged_writes`` extends this to a group of files (a mask with its
overlays and report, an evaluation folder): nothing is renamed into place until every file of the
group is written, so a failure leaves every earlier output exactly as it was and no temporary file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"


def temporary_name(target: Path) -> Path:
    """A hidden name beside ``target`` with the same suffixes (writers pick the format from them)."""
    return target.parent / f"{TEMPORARY_PREFIX}{secrets.token_hex(4)}-{target.name}"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path with the same suffixes as ``path``; rename it to ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(target)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


class StagedWrites:
    """Temporary paths for a group of outputs; ``commit`` renames them all into place."""

    def __init__(self):
        self._staged: dict[Path, Path] = {}
        self._created: list[Path] = []

    def path(self, target: str | Path) -> Path:
        """The temporary path to write ``target``'s content to (created folders are remembered)."""
        target = Path(target)
        if target not in self._staged:
            self._make_parents(target.parent)
            self._staged[target] = temporary_name(target)
        return self._staged[target]

    def write_text(self, target: str | Path, text: str) -> None:
        self.path(target).write_text(text)

    def commit(self) -> list[Path]:
        for target, temporary in self._staged.items():
            os.replace(temporary, target)
        committed = list(self._staged)
        self._staged.clear()
        return committed

    def discard(self) -> None:
        for temporary in self._staged.values():
            if temporary.exists():
                temporary.unlink()
        self._staged.clear()
        for folder in reversed(self._created):  # only the folders this group made, if left empty
            try:
                folder.rmdir()
            except OSError:
                pass

    def _make_parents(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir()
            self._created.append(created)


@contextmanager
def staged_writes() -> Iterator[StagedWrites]:
    """``with staged_writes() as stage: write to stage.path(target) ...``: every target appears at once
    when the block ends without an error; on an error none does and the temporary files are removed."""
    stage = StagedWrites()
    try:
        yield stage
        stage.commit()
    finally:
        stage.discard()


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
