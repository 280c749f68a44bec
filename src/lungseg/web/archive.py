"""Zip archives from users, checked as a whole before any entry is unpacked.

Refused before extraction: absolute paths, drive letters and ``..`` components (zip slip), symbolic
links, encrypted entries, compression methods Python cannot read, more entries than ``max_files``, a
declared total over ``max_uncompressed_bytes``, and decompression bombs: an archive whose files
together expand more than ``max_ratio`` times (their declared sizes against their compressed sizes,
bounded by the archive's own size, from the central directory), or an entry of at least 1 MiB that
does (small entries may compress very well and are harmless one by one; many of them are caught by the
whole-archive ratio). The declared sizes bound what is written: zipfile stops at the declared size
and checks the CRC, and the caller counts the bytes actually read. Directories are flattened (entry names are never
used as paths) and junk (``upload_rules.is_junk``: ``__MACOSX/``, ``.DS_Store``, DICOMDIR...) is skipped.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Generator
from pathlib import Path
from typing import IO

from lungseg.web.upload_rules import Readable, UploadLimits, UploadRefused, format_size, is_junk, shown_name

RATIO_FROM = 1 << 20
READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


def zip_members(path: Path, limits: UploadLimits) -> Generator[tuple[str, Readable], None, None]:
    """(entry name, stream) for every non-junk file entry of the zip at ``path``, after ``check_zip``.

    Streams turn read errors (bad CRC, truncated data) into ``UploadRefused``.
    """
    _check_directory_size(path, limits)
    try:
        archive = zipfile.ZipFile(path)
    except (*DAMAGED, OSError) as error:
        raise UploadRefused("the .zip file is damaged or not a zip archive") from error
    with archive:
        for info in check_zip(archive.infolist(), limits, path.stat().st_size):
            try:
                stream = archive.open(info)
            except DAMAGED as error:
                raise UploadRefused(f"'{shown_name(info.filename)}' in the .zip cannot be read") from error
            with stream:
                yield info.filename, _Checked(stream, info.filename)


MAX_DIRECTORY_BYTES = 64 << 20  # a central directory larger than this is not a scan export


def _check_directory_size(path: Path, limits: UploadLimits) -> None:
    """Read the end-of-central-directory record (and its zip64 form) before ``zipfile`` parses every
    entry: refuse more entries (directories and junk included) than ``2 * max_files`` or a directory
    over ``MAX_DIRECTORY_BYTES``, so a million empty entries cannot cost gigabytes of memory."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - (22 + 65535)))
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0:
            raise UploadRefused("the .zip file is damaged or not a zip archive")
        entries, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        if entries == 0xFFFF or directory == 0xFFFFFFFF and locator >= 0:
            handle.seek(struct.unpack("<Q", tail[locator + 8 : locator + 16])[0])
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06":
                entries, directory = struct.unpack("<QQ", record[32:48])
    if entries > 2 * limits.max_files or directory > MAX_DIRECTORY_BYTES:
        raise UploadRefused(f"the .zip lists {entries} entries; at most {limits.max_files} files are accepted", 413)


def check_zip(
    infos: list[zipfile.ZipInfo], limits: UploadLimits, archive_size: int | None = None
) -> list[zipfile.ZipInfo]:
    """The entries to unpack (files that are not junk), once every entry and the archive as a whole passed
    the checks above (``archive_size``: the zip file's size, which bounds the compressed total)."""
    for info in infos:
        shown = shown_name(info.filename)
        if _unsafe_path(info.filename):
            raise UploadRefused(f"the .zip holds an unsafe path ('{shown}': absolute, drive letter or '..')")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadRefused(f"the .zip holds a symbolic link ('{shown}'); zip the files themselves")
        if info.flag_bits & 0x1:
            raise UploadRefused(f"the .zip is password-protected ('{shown}'); upload it without encryption")
        if info.compress_type not in READABLE:
            raise UploadRefused(
                f"the .zip uses an unsupported compression method ('{shown}'); "
                "re-create it with standard (Deflate) compression",
                415,
            )
    entries = [info for info in infos if not info.is_dir() and not is_junk(info.filename)]
    if len(entries) > limits.max_files:
        raise UploadRefused(f"the .zip holds {len(entries)} files; at most {limits.max_files} are accepted", 413)
    declared = sum(info.file_size for info in entries)
    if declared > limits.max_uncompressed_bytes:
        raise UploadRefused(
            f"the .zip unpacks to {format_size(declared)}, over the limit of "
            f"{format_size(limits.max_uncompressed_bytes)}",
            413,
        )
    compressed = sum(info.compress_size for info in entries)
    if archive_size is not None:
        compressed = min(compressed, archive_size)
    if declared >= RATIO_FROM and declared > limits.max_ratio * max(compressed, 1):
        raise UploadRefused(
            f"the .zip looks like a decompression bomb: its {len(entries)} files expand "
            f"{declared / max(compressed, 1):.0f} times together, more than {limits.max_ratio:g}",
            413,
        )
    for info in entries:
        if info.file_size >= RATIO_FROM and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise UploadRefused(
                f"the .zip looks like a decompression bomb: '{shown_name(info.filename)}' "
                f"expands more than {limits.max_ratio:g} times",
                413,
            )
    return entries


def _unsafe_path(name: str) -> bool:
    return name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) is not None or ".." in re.split(r"[\\/]", name)


class _Checked:
    """A zip entry stream whose read errors become ``UploadRefused`` (400) for the user."""

    def __init__(self, stream: IO[bytes], name: str):
        self._stream, self._name = stream, name

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except DAMAGED as error:
            raise UploadRefused(f"the .zip is damaged: '{shown_name(self._name)}' cannot be unpacked") from error
