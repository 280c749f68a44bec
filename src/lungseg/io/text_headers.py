"""NRRD and MetaImage text headers: refusing data kept outside the file, and reading a zero spacing.

**Data outside the file.** A MetaImage header names its data file (``ElementDataFile = /etc/passwd``,
``../x.raw``, ``LIST``) and an NRRD header may too (``data file: ...``); ITK follows either, relative
to the header's folder or absolute, so an uploaded header could make the service read any file it can.
``check_attached`` refuses every file whose voxels are not inside the file itself: ``.mhd``/``.nhdr``
by suffix, an ``.mha`` unless its ``ElementDataFile`` is ``LOCAL``, an ``.nrrd`` with a ``data file``
field. The scan errs on the side of refusing: every header line is parsed the way ITK's readers
tokenise it (MetaIO: name up to ``=`` or ``:``, C-string, surrounding white space ignored; teem NRRD:
lines end at LF, CR or CR LF, field names case-insensitive), a line MetaIO could join to
the next one is refused, and the header must end within ``limits.MAX_TEXT_HEADER_BYTES``.

**Zero spacing.** ITK refuses to read these at all ("Refusing to change spacing ... to [0, 0, 0]"),
although the voxels are fine. For files with the data attached (``.nrrd``, ``.mha``) the spacing fields
are rewritten to 1 in a temporary copy (NRRD axis directions kept at unit length), which ITK then reads;
the stored values are returned so that ``io.spacing`` can say what was wrong and assume a usable spacing.
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lungseg.errors import InputError
from lungseg.io.limits import MAX_TEXT_HEADER_BYTES

DETACHED_SUFFIXES = (".mhd", ".nhdr")
DETACHED = "detached header (data in another file) is not supported; convert to .mha/.nrrd/.nii.gz"
META_LOCAL = re.compile(rb"[ \t]*ElementDataFile[ \t]*[=:][ \t]*(LOCAL|Local|local)[ \t\r]*")
NRRD_LINES = re.compile(rb"\r\n|\r|\n")
NRRD_DIRECTIONS = re.compile(rb"^space directions:(.*)$", re.M)
NRRD_SPACINGS = re.compile(rb"^spacings:(.*)$", re.M)
META_SPACING = re.compile(rb"^(ElementSpacing|ElementSize)\s*=(.*)$", re.M)
HEADER_BYTES = 1 << 16


def check_attached(path: Path, shown: Path | None = None) -> None:
    """Raise ``InputError`` (naming ``shown`` or ``path``) unless the MHA/NRRD file ``path`` holds its own
    voxels (see the module docstring); other suffixes pass unchecked. Reads at most the header."""
    name = path.name.lower()
    if name.endswith(DETACHED_SUFFIXES):
        raise InputError(shown or path, DETACHED)
    if not name.endswith((".mha", ".nrrd")):
        return
    with open(path, "rb") as handle:
        head = handle.read(MAX_TEXT_HEADER_BYTES + 1)
    reason = (_meta_reason if name.endswith(".mha") else _nrrd_reason)(head, len(head) > MAX_TEXT_HEADER_BYTES)
    if reason:
        raise InputError(shown or path, reason)


def _meta_reason(head: bytes, cut: bool) -> str | None:
    """Why this MetaImage header is refused, or None when its first ``ElementDataFile`` is ``LOCAL``.

    MetaIO reads fields up to the first ``ElementDataFile`` (the data follows it). A line without ``=``
    or ``:`` makes MetaIO take the next separator, on a later line, as its own, which could hide a
    ``ElementDataFile = LOCAL`` from MetaIO while we see it; such a header is refused."""
    for number, line in enumerate(head[:MAX_TEXT_HEADER_BYTES].split(b"\n"), 1):
        if not line.strip():
            continue
        separator = min((i for i in (line.find(b"="), line.find(b":")) if i >= 0), default=-1)
        if separator < 0:
            return f"MetaImage header line {number} has no '=' (malformed header)"
        if line[:separator].split(b"\0")[0].strip().lower() == b"elementdatafile":
            return None if META_LOCAL.fullmatch(line) else DETACHED
    if cut:
        return f"MetaImage header longer than {MAX_TEXT_HEADER_BYTES // 1024} kB (no ElementDataFile = LOCAL)"
    return "MetaImage header has no ElementDataFile = LOCAL line (data is not in the file)"


def _nrrd_reason(head: bytes, cut: bool) -> str | None:
    """Why this NRRD header is refused, or None: it has a ``data file`` (or ``datafile``) field, in any
    case or spacing, or does not end (empty line) within the limit."""
    lines = NRRD_LINES.split(head[:MAX_TEXT_HEADER_BYTES])
    for line in lines[:-1]:  # the last piece is unterminated: the data, or a header cut at the limit
        if not line:
            return None
        key = line.split(b":", 1)[0].split(b"\0")[0]
        if b"".join(key.split()).lower() == b"datafile":
            return DETACHED
    if cut:
        return f"NRRD header longer than {MAX_TEXT_HEADER_BYTES // 1024} kB (no empty line ends it)"
    key = lines[-1].split(b":", 1)[0].split(b"\0")[0]  # a header-only file may end without a newline
    return DETACHED if b"".join(key.split()).lower() == b"datafile" else None


@contextmanager
def readable_copy(path: Path):
    """Yield (a temporary copy with spacing 1, the stored spacing) for an attached NRRD/MHA header, or
    (None, None) when the file is of another kind or its header has no spacing field to fix."""
    suffix = path.name.lower().rsplit(".", 1)[-1]
    if suffix not in ("nrrd", "mha"):
        yield None, None
        return
    data = path.read_bytes()
    end = data.find(b"\n\n") if suffix == "nrrd" else data.find(b"ElementDataFile")
    header = data[: end if 0 <= end < HEADER_BYTES else HEADER_BYTES]
    fixed, stored = (_fix_nrrd if suffix == "nrrd" else _fix_meta)(header)
    if stored is None:
        yield None, None
        return
    with tempfile.TemporaryDirectory(prefix="lungseg-") as folder:
        copy = Path(folder) / f"spacing-fixed.{suffix}"
        copy.write_bytes(fixed + data[len(header) :])
        yield copy, stored


def _fix_nrrd(header: bytes) -> tuple[bytes, tuple[float, ...] | None]:
    directions = NRRD_DIRECTIONS.search(header)
    if directions:
        vectors = re.findall(rb"\(([^)]*)\)", directions.group(1))
        rows = [np.array([float(v) for v in vector.split(b",")]) for vector in vectors]
        stored = tuple(float(np.linalg.norm(row)) for row in rows)
        # each axis keeps its direction at unit length; an axis without one becomes the matching unit vector
        units = [
            row / norm if np.isfinite(norm) and norm > 0 else np.eye(len(rows))[i]
            for i, (row, norm) in enumerate(zip(rows, stored))
        ]
        text = b" ".join(b"(" + b",".join(repr(float(v)).encode() for v in unit) + b")" for unit in units)
        return header[: directions.start(1)] + b" " + text + header[directions.end(1) :], stored
    spacings = NRRD_SPACINGS.search(header)
    if spacings:
        stored = tuple(float(v) for v in spacings.group(1).split())
        return header[: spacings.start(1)] + b" " + b" ".join(b"1" for _ in stored) + header[spacings.end(1) :], stored
    return header, None


def _fix_meta(header: bytes) -> tuple[bytes, tuple[float, ...] | None]:
    found = META_SPACING.search(header)
    if not found:
        return header, None
    stored = tuple(float(v) for v in found.group(2).split())
    return header[: found.start(2)] + b" " + b" ".join(b"1" for _ in stored) + header[found.end(2) :], stored
