"""NRRD and MetaImage files whose text header gives a zero (or otherwise unusable) voxel spacing.

ITK refuses to read them at all ("Refusing to change spacing ... to [0, 0, 0]"), although the voxels
are fine. For files with the data attached (``.nrrd``, ``.mha``) the spacing fields are rewritten to 1
in a temporary copy (NRRD axis directions kept at unit length), which ITK then reads; the stored
values are returned so that ``io.spacing`` can
say what was wrong and assume a usable spacing. Detached headers (``.nhdr``, ``.mhd``) are not copied.
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

NRRD_DIRECTIONS = re.compile(rb"^space directions:(.*)$", re.M)
NRRD_SPACINGS = re.compile(rb"^spacings:(.*)$", re.M)
META_SPACING = re.compile(rb"^(ElementSpacing|ElementSize)\s*=(.*)$", re.M)
HEADER_BYTES = 1 << 16


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
        copy.write_bytes(fixed + data[len(header):])
        yield copy, stored


def _fix_nrrd(header: bytes) -> tuple[bytes, tuple[float, ...] | None]:
    directions = NRRD_DIRECTIONS.search(header)
    if directions:
        vectors = re.findall(rb"\(([^)]*)\)", directions.group(1))
        rows = [np.array([float(v) for v in vector.split(b",")]) for vector in vectors]
        stored = tuple(float(np.linalg.norm(row)) for row in rows)
        # each axis keeps its direction at unit length; an axis without one becomes the matching unit vector
        units = [row / norm if np.isfinite(norm) and norm > 0 else np.eye(len(rows))[i]
                 for i, (row, norm) in enumerate(zip(rows, stored))]
        text = b" ".join(b"(" + b",".join(repr(float(v)).encode() for v in unit) + b")" for unit in units)
        return header[:directions.start(1)] + b" " + text + header[directions.end(1):], stored
    spacings = NRRD_SPACINGS.search(header)
    if spacings:
        stored = tuple(float(v) for v in spacings.group(1).split())
        return header[:spacings.start(1)] + b" " + b" ".join(b"1" for _ in stored) + header[spacings.end(1):], stored
    return header, None


def _fix_meta(header: bytes) -> tuple[bytes, tuple[float, ...] | None]:
    found = META_SPACING.search(header)
    if not found:
        return header, None
    stored = tuple(float(v) for v in found.group(2).split())
    return header[:found.start(2)] + b" " + b" ".join(b"1" for _ in stored) + header[found.end(2):], stored
