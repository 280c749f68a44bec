"""What staging (``uploads``) and the zip checks (``archive``) share: the limits of one upload, the
refusal a user sees, the cleaned display name of a client file, the junk files that are skipped and
byte counts for messages."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

_JUNK = {"thumbs.db", "desktop.ini", "dicomdir"}


@dataclass(frozen=True)
class UploadLimits:
    max_total_bytes: int = 1 << 30  # all files of one upload together (also the zip's own size)
    max_files: int = 2000  # files in one upload, or entries in a zip
    max_uncompressed_bytes: int = 2 << 30  # a zip's total uncompressed size
    max_ratio: float = 200.0  # a zip's (and a large entry's) uncompressed/compressed ratio


class UploadRefused(Exception):
    """reason: one plain-language line for the user (never a traceback); status: HTTP status (400 default,
    413 too large, 415 unsupported type, 503 too many uploads at once)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = " ".join(reason.split())
        self.status = status


class Readable(Protocol):
    """What staging reads from: an uploaded file's stream or a zip entry's."""

    def read(self, size: int = -1, /) -> bytes: ...


def shown_name(name: str) -> str:
    """The last component of a client file name without control characters, for messages and display."""
    base = re.split(r"[\\/]", str(name))[-1]
    clean = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return clean[:100] or "unnamed file"


def is_junk(name: str) -> bool:
    """Files that folder uploads and zips carry but nobody means: ``__MACOSX/``, hidden files such as
    ``.DS_Store`` and ``._x``, ``Thumbs.db``, ``desktop.ini`` and ``DICOMDIR`` (an index, not an image)."""
    parts = [part for part in re.split(r"[\\/]", str(name)) if part]
    return not parts or "__MACOSX" in parts or parts[-1].startswith(".") or parts[-1].lower() in _JUNK


def format_size(count: int) -> str:
    """A byte count for people: 1 GiB, 3.5 MiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
