"""The NIfTI header, read directly: the raw voxel spacing and a check that the data is complete.

ITK replaces a zero or NaN ``pixdim`` by 1 mm without a word, reads a truncated ``.nii`` (or
``.nii.gz``) as if the missing voxels were there, and turns NaN voxels of a float volume into 0 (soft
tissue in HU). All three are caught here: the header gives the stored spacing, and one pass over the
voxel data checks its length and counts non-finite values (``read_nifti_voxels`` then reads the
voxels as stored, so the caller can report and fill them). NIfTI-1 and NIfTI-2, either byte order,
plain or gzip-compressed.

The header decides how much is read, so it is bounded first (a hostile ``.nii.gz`` of a few hundred kB
can otherwise make us allocate or inflate gigabytes): ``vox_offset`` must lie between the end of the
header and that plus ``limits.MAX_NIFTI_EXTENSION_BYTES``, every axis and the data size must be within
``limits.MAX_VOLUME_VOXELS``/``MAX_VOLUME_BYTES``; the offset is skipped in chunks and reading stops at
the last byte the header promises (trailing data, however long, is never inflated).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.io.limits import MAX_NIFTI_EXTENSION_BYTES, MAX_VOLUME_BYTES, check_size

CHUNK = 1 << 22  # bytes read (or inflated) at a time


FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 and float64


@dataclass(frozen=True)
class NiftiHeader:
    dims: tuple[int, ...]
    pixdim: tuple[float, ...]  # spacing per axis as stored (may be 0, NaN, negative)
    bitpix: int
    vox_offset: int
    datatype: int = 0
    byte_order: str = "<"
    scale: tuple[float, float] = (0.0, 0.0)  # scl_slope, scl_inter (slope 0: no scaling)

    @property
    def is_float(self) -> bool:
        return self.datatype in FLOAT_TYPES

    @property
    def data_bytes(self) -> int:
        count = 1
        for value in self.dims:
            count *= max(value, 0)
        return count * max(self.bitpix, 0) // 8


def read_nifti_header(path: str | Path) -> NiftiHeader:
    """Parse the header of ``path`` (``.nii`` or ``.nii.gz``); a ``vox_offset`` outside the bounds in the
    module docstring is refused here, before anything is skipped or inflated."""
    path = Path(path)
    try:
        with _open(path) as handle:
            raw = handle.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"cannot read NIfTI header ({describe(exc)})") from exc
    for order in "<>":
        if len(raw) >= 348 and struct.unpack(order + "i", raw[:4])[0] == 348:
            ndim = struct.unpack(order + "h", raw[40:42])[0]
            dims = struct.unpack(order + "8h", raw[40:56])[1 : 1 + max(0, min(ndim, 7))]
            pixdim = struct.unpack(order + "8f", raw[76:108])[1 : 1 + len(dims)]
            datatype, bitpix = struct.unpack(order + "2h", raw[70:74])
            offset = _check_offset(path, struct.unpack(order + "f", raw[108:112])[0], 348)
            scale = struct.unpack(order + "2f", raw[112:120])
            return NiftiHeader(tuple(dims), tuple(pixdim), bitpix, offset, datatype, order, scale)
        if len(raw) >= 540 and struct.unpack(order + "i", raw[:4])[0] == 540:
            ndim = struct.unpack(order + "q", raw[16:24])[0]
            dims = struct.unpack(order + "8q", raw[16:80])[1 : 1 + max(0, min(ndim, 7))]
            pixdim = struct.unpack(order + "8d", raw[104:168])[1 : 1 + len(dims)]
            datatype, bitpix = struct.unpack(order + "2h", raw[12:16])
            offset = _check_offset(path, struct.unpack(order + "q", raw[168:176])[0], 540)
            scale = struct.unpack(order + "2d", raw[176:192])
            return NiftiHeader(tuple(dims), tuple(pixdim), bitpix, offset, datatype, order, scale)
    raise InputError(path, "not a NIfTI file (no NIfTI-1 or NIfTI-2 header)")


def _check_offset(path: Path, offset: float, header_size: int) -> int:
    """``vox_offset`` is where the voxels start: not inside the header, and at most the header, its 4-byte
    extension flag and ``MAX_NIFTI_EXTENSION_BYTES`` of extensions after the start of the file."""
    largest = header_size + 4 + MAX_NIFTI_EXTENSION_BYTES
    if not math.isfinite(offset) or not header_size <= offset <= largest:
        raise InputError(
            path, f"the header's vox_offset {offset:g} is outside {header_size}..{largest} (damaged or hostile header)"
        )
    return int(offset)


def check_nifti_size(path: str | Path, header: NiftiHeader) -> None:
    """Refuse a header whose axes (all of them, not only the first three) or data size exceed the limits,
    or whose ``bitpix`` contradicts a float ``datatype`` (the voxels would be misread)."""
    check_size(header.dims or (0,), path, "volume")
    if header.data_bytes > MAX_VOLUME_BYTES:
        raise InputError(
            path,
            f"the header claims {header.data_bytes:.3g} bytes of voxel data, more than the "
            f"{MAX_VOLUME_BYTES:.3g} lungseg handles (damaged header)",
        )
    if header.is_float and header.bitpix != 8 * np.dtype(FLOAT_TYPES[header.datatype]).itemsize:
        raise InputError(
            path,
            f"the header's bitpix {header.bitpix} does not match its float datatype {header.datatype} (damaged header)",
        )


def check_nifti_data(path: str | Path, header: NiftiHeader) -> int:
    """Raise ``InputError`` if the file holds fewer voxel bytes than its header promises, or its gzip
    stream is damaged; return the number of NaN/inf voxels (0 for integer types). The size is checked
    first (``check_nifti_size``); the data is then read once, in chunks, and no further than it needs."""
    path = Path(path)
    check_nifti_size(path, header)
    needed = header.vox_offset + header.data_bytes
    compressed = _is_gzip(path)
    if not compressed and path.stat().st_size < needed:
        raise InputError(
            path, f"truncated file: the header promises {needed} bytes, the file has {path.stat().st_size}"
        )
    if not compressed and not header.is_float:
        return 0
    nonfinite = 0
    dtype = np.dtype(header.byte_order + FLOAT_TYPES[header.datatype]) if header.is_float else None
    try:
        with _open(path) as handle:
            total = _skip(handle, header.vox_offset)
            while total < needed and (block := handle.read(min(CHUNK, needed - total))):
                if dtype is not None:
                    values = np.frombuffer(block[: len(block) // dtype.itemsize * dtype.itemsize], dtype)
                    nonfinite += int(values.size - np.count_nonzero(np.isfinite(values)))
                total += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"truncated or corrupt gzip data ({describe(exc)})") from exc
    if total < needed:
        raise InputError(path, f"truncated file: the header promises {needed} bytes, the data unpacks to {total}")
    return nonfinite


def read_nifti_voxels(path: str | Path, header: NiftiHeader) -> np.ndarray:
    """The voxels as stored (NaN kept), scaled by scl_slope/scl_inter, as a (Z, Y, X) float32 array.
    Exactly ``data_bytes`` are read after ``vox_offset`` (both checked as in ``check_nifti_data``)."""
    path = Path(path)
    check_nifti_size(path, header)
    try:
        with _open(path) as handle:
            skipped = _skip(handle, header.vox_offset)
            data = handle.read(header.data_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"truncated or corrupt gzip data ({describe(exc)})") from exc
    if skipped < header.vox_offset or len(data) < header.data_bytes:
        raise InputError(path, f"truncated file: the header promises {header.vox_offset + header.data_bytes} bytes")
    dtype = np.dtype(header.byte_order + FLOAT_TYPES[header.datatype])
    values = np.frombuffer(data, dtype).astype(np.float32).reshape(tuple(reversed(header.dims[:3])))
    slope, intercept = header.scale
    if slope and np.isfinite(slope) and (slope, intercept) != (1.0, 0.0):
        values = values * np.float32(slope) + np.float32(intercept)
    return values


def _skip(handle, count: int) -> int:
    """Read past ``count`` bytes a chunk at a time (a gzip stream cannot seek without inflating, and one
    ``read(count)`` would hold it all in memory); return how many were there."""
    skipped = 0
    while skipped < count and (block := handle.read(min(CHUNK, count - skipped))):
        skipped += len(block)
    return skipped


def _open(path: Path):
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _is_gzip(path: Path) -> bool:
    """By content, not name: a ``.nii.gz`` that is not compressed (or a compressed ``.nii``) is common."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
