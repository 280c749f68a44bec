"""Staging of web uploads: the user's files are streamed to generated names in a fresh folder, checked
as they arrive, and renamed into place only once the whole upload is acceptable.

Nothing the client sends is used as a path: a file name only picks a kind from a whitelist of
suffixes (and appears, cleaned, in messages). Sizes are counted while reading, never taken from a
header, so a lying client or archive cannot fill the disk: staging stops at the first chunk over a
limit and removes everything it wrote. One upload is one of: DICOM files of a series, one .zip (of a
series, or of one volume or image), one volume (NIfTI/NRRD/MHA) or one image slice.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lungseg.web.archive import zip_members
from lungseg.web.upload_rules import (  # re-exported: the public names of staging
    Readable,
    UploadLimits,
    UploadRefused,
    format_size,
    is_junk,
    shown_name,
)

__all__ = [
    "ACCEPTED",
    "StagedUpload",
    "UploadLimits",
    "UploadRefused",
    "format_size",
    "is_junk",
    "shown_name",
    "stage_upload",
]

CHUNK = 1 << 20
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
ACCEPTED = (
    "DICOM files (.dcm or no suffix), one .zip of them, one volume (.nii, .nii.gz, .nrrd, .mha) "
    "or one image slice (.png, .jpg, .jpeg, .tif, .tiff)"
)
_HEAD = 132  # the DICOM preamble (128 bytes) and b"DICM"
_DESCRIBED = {"dicom": "DICOM files", "zip": "a .zip", "volume": "a volume", "slice": "an image slice"}
_KINDS = {"dicom": "dicom-series", "volume": "volume", "slice": "slice"}


@dataclass(frozen=True)
class StagedUpload:
    kind: str  # "dicom-series" | "volume" | "slice"
    path: Path  # what lungseg reads: the folder of DICOM files, or the single file
    files: int  # number of stored files
    original_name: str  # the user's file name (or zip name), for display only; never used as a path


def stage_upload(
    files: Iterable[tuple[str, BinaryIO]],
    dest: Path,
    limits: UploadLimits,
    reserve: Callable[[int], None] | None = None,
) -> StagedUpload:
    """Stream ``files`` (client name, binary stream) into the new folder ``dest`` under generated names.

    Work happens in a hidden folder beside ``dest`` that is renamed to ``dest`` at the end, so a refusal
    (``UploadRefused``) or any other error leaves neither ``dest`` nor partial files behind. The web
    service puts ``dest`` in its staging area (``lungseg.web.staging``), never in a user's folder, and
    passes ``reserve``: called with every chunk's size before it is written (it may refuse the upload),
    so that uploads staged at once share one byte quota.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} must be a new or empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.staging-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        stored, shown = _stage(files, staging, limits, reserve)
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    kind = _KINDS[stored.kinds[0]]
    path = dest if kind == "dicom-series" else dest / stored.names[0]
    return StagedUpload(kind=kind, path=path, files=len(stored.names), original_name=shown)


def _stage(
    files: Iterable[tuple[str, BinaryIO]], staging: Path, limits: UploadLimits, reserve: Callable[[int], None] | None
) -> tuple[_Folder, str]:
    folder = _Folder(staging)
    budget = _Budget(limits.max_total_bytes, "the upload", reserve)
    received, names = 0, []
    for name, stream in files:
        received += 1
        if received > limits.max_files:
            raise UploadRefused(f"too many files: at most {limits.max_files} per upload (a .zip counts as one)", 413)
        if folder.store(name, stream, budget):
            names.append(shown_name(name))
    if not received:
        raise UploadRefused("no file was uploaded")
    if not names:
        raise UploadRefused(f"the upload holds no usable file; upload {ACCEPTED}", 415)
    shown = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    if folder.kinds != ["zip"]:
        return folder, shown
    zip_path = staging / folder.names[0]
    inner = _Folder(staging)
    unpacked = _Budget(limits.max_uncompressed_bytes, "the unpacked .zip", reserve)
    with contextlib.closing(zip_members(zip_path, limits)) as members:
        for member_name, member in members:
            inner.store(member_name, member, unpacked, in_zip=True)
    zip_path.unlink()
    if not inner.names:
        raise UploadRefused(f"the .zip holds no usable file; it should contain {ACCEPTED}", 415)
    return inner, shown


class _Budget:
    """Bytes counted as they are read; the first chunk over ``limit`` refuses the upload (413), and every
    chunk is also counted by ``reserve`` (the staging area's quota shared by concurrent uploads)."""

    def __init__(self, limit: int, what: str, reserve: Callable[[int], None] | None = None):
        self.limit, self.what, self.used, self.reserve = limit, what, 0, reserve

    def add(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise UploadRefused(f"{self.what} is larger than the limit of {format_size(self.limit)}", 413)
        if self.reserve is not None:
            self.reserve(size)


class _Folder:
    """The staging folder: stores streams under generated names and keeps to one kind per upload."""

    def __init__(self, root: Path):
        self.root = root
        self.names: list[str] = []
        self.kinds: list[str] = []

    def store(self, name: str, stream: Readable, budget: _Budget, in_zip: bool = False) -> bool:
        """Copy one stream in chunks; False when skipped: junk, and inside a zip empty, unknown or zip entries."""
        if is_junk(name):
            return False
        head = _read_head(stream)
        kind = _classify(name, head) if head else None
        if in_zip and (kind is None or kind == "zip"):
            return False
        if not head:
            raise UploadRefused(f"'{shown_name(name)}' is empty")
        if kind is None:
            raise UploadRefused(_unsupported(name), 415)
        self._check_mix(kind, name)
        target = self._generated_name(kind, name)
        with open(self.root / target, "xb") as out:
            self.names.append(target)
            self.kinds.append(kind)
            chunk = head
            while chunk:
                budget.add(len(chunk))  # before writing: the disk never holds more than the limit
                out.write(chunk)
                chunk = stream.read(CHUNK)
        return True

    def _check_mix(self, kind: str, name: str) -> None:
        if self.kinds and not (kind == "dicom" and self.kinds[0] == "dicom"):
            raise UploadRefused(
                f"'{shown_name(name)}' ({_DESCRIBED[kind]}) cannot join {_DESCRIBED[self.kinds[0]]} in one upload: "
                "send one DICOM series, one .zip, one volume or one image slice at a time"
            )

    def _generated_name(self, kind: str, name: str) -> str:
        lower = shown_name(name).lower()
        if kind == "dicom":
            return f"{len(self.kinds) + 1:04d}.dcm"
        if kind == "zip":
            return "upload.zip"
        suffixes = VOLUME_SUFFIXES if kind == "volume" else IMAGE_SUFFIXES
        suffix = next(s for s in suffixes if lower.endswith(s))
        return ("input" if kind == "volume" else "slice") + suffix


def _read_head(stream: Readable) -> bytes:
    head = b""
    while len(head) < _HEAD and (chunk := stream.read(_HEAD - len(head))):
        head += chunk
    return head


def _classify(name: str, head: bytes) -> str | None:
    """ "dicom", "zip", "volume", "slice" or None: by whitelisted suffix first, then by content (DICOM
    preamble, zip signature, or an unsuffixed file that starts like a preamble-less DICOM)."""
    lower = shown_name(name).lower()
    if lower.endswith(".dcm") or head[128:132] == b"DICM":  # content wins: a DICOM named .mha is DICOM
        return "dicom"
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(VOLUME_SUFFIXES):
        return "volume"
    if lower.endswith(IMAGE_SUFFIXES):
        return "slice"
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    suffix = os.path.splitext(lower)[1][1:]
    if (not suffix or suffix.isdigit()) and head[:2] in (b"\x08\x00", b"\x02\x00"):
        return "dicom"  # raw DICOM (group 0002 or 0008 first), as old PACS exports such as IM0001 or 1.2.3.4
    return None


def _unsupported(name: str) -> str:
    shown = shown_name(name)
    if shown.lower().endswith((".mhd", ".nhdr", ".raw")):
        return f"'{shown}' needs a separate data file; convert it to .mha or .nii.gz and upload that"
    return f"'{shown}' is not a supported type; upload {ACCEPTED}"
