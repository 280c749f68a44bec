"""Which entries of a data folder count: hidden files and the system and notes files below are skipped,
and split folders go by a fixed set of names (train/training, val/valid/validation, test/testing)."""

from __future__ import annotations

from pathlib import Path

IGNORED_NAMES = {"Thumbs.db", "desktop.ini", "SOURCE.txt", "README.md", "README.txt"}
SPLIT_FOLDERS = ("train", "training", "val", "valid", "validation", "test", "testing")


def visible_entries(folder: Path, dirs: bool = False) -> list[Path]:
    """The sub-folders (``dirs``) or files of ``folder``, sorted, without hidden and system files."""
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in IGNORED_NAMES and p.is_dir() == dirs
    )
