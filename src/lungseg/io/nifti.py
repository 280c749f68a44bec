"""The NIfTI header, read directly: the raw voxel spacing and a check that the data is complete.

ITK replaces a zero or NaN ``pixdim`` by 1 mm without a word, reads a truncated ``.nii`` (or
``.nii.gz``) as if the missing voxels were there, and turns NaN voxels of a float volume into 0 (soft
tissue in HU). All three are caught here: the header gives the stored spacing, and one pass over the
voxel data checks its length and counts non-finite values (``read_nifti_voxels`` then reads the
voxels as stored, so the caller can report and fill them). NIfTI-1 and NIfTI-2, either byte order,
plain or gzip-compressed.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungseg.errors import InputError, describe

CHUNK = 1 << 22


FLOAT_TYPES = {16: "f4", 64: "f8"}   # NIfTI datatype codes of float32 and float64


@dataclass(frozen=True)
class NiftiHeader:
    dims: tuple[int, ...]
    pixdim: tuple[float, ...]   # spacing per axis as stored (may be 0, NaN, negative)
    bitpix: int
    vox_offset: int
    datatype: int = 0
    byte_order: str = "<"
    scale: tuple[float, float] = (0.0, 0.0)   # scl_slope, scl_inter (slope 0: no scaling)

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
    """Parse the header of ``path`` (``.nii`` or ``.nii.gz``)."""
    path = Path(path)
    try:
        with _open(path) as handle:
            raw = handle.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"cannot read NIfTI header ({describe(exc)})") from exc
    for order in "<>":
        if len(raw) >= 348 and struct.unpack(order + "i", raw[:4])[0] == 348:
            ndim = struct.unpack(order + "h", raw[40:42])[0]
            dims = struct.unpack(order + "8h", raw[40:56])[1:1 + max(0, min(ndim, 7))]
            pixdim = struct.unpack(order + "8f", raw[76:108])[1:1 + len(dims)]
            datatype, bitpix = struct.unpack(order + "2h", raw[70:74])
            offset = int(struct.unpack(order + "f", raw[108:112])[0])
            scale = struct.unpack(order + "2f", raw[112:120])
            return NiftiHeader(tuple(dims), tuple(pixdim), bitpix, max(offset, 348), datatype, order, scale)
        if len(raw) >= 540 and struct.unpack(order + "i", raw[:4])[0] == 540:
            ndim = struct.unpack(order + "q", raw[16:24])[0]
            dims = struct.unpack(order + "8q", raw[16:80])[1:1 + max(0, min(ndim, 7))]
            pixdim = struct.unpack(order + "8d", raw[104:168])[1:1 + len(dims)]
            datatype, bitpix = struct.unpack(order + "2h", raw[12:16])
            offset = struct.unpack(order + "q", raw[168:176])[0]
            scale = struct.unpack(order + "2d", raw[176:192])
            return NiftiHeader(tuple(dims), tuple(pixdim), bitpix, max(offset, 540), datatype, order, scale)
    raise InputError(path, "not a NIfTI file (no NIfTI-1 or NIfTI-2 header)")


def check_nifti_data(path: str | Path, header: NiftiHeader) -> int:
    """Raise ``InputError`` if the file holds fewer voxel bytes than its header promises, or its gzip
    stream is damaged; return the number of NaN/inf voxels (0 for integer types). The data is read
    once, in chunks."""
    path = Path(path)
    needed = header.vox_offset + header.data_bytes
    compressed = _is_gzip(path)
    if not compressed and path.stat().st_size < needed:
        raise InputError(path, f"truncated file: the header promises {needed} bytes, the file has "
                               f"{path.stat().st_size}")
    if not compressed and not header.is_float:
        return 0
    total, nonfinite = 0, 0
    dtype = np.dtype(header.byte_order + FLOAT_TYPES[header.datatype]) if header.is_float else None
    try:
        with _open(path) as handle:
            handle.read(header.vox_offset)
            total = header.vox_offset
            while block := handle.read(CHUNK):
                if dtype is not None:
                    usable = block[: max(0, min(len(block), needed - total)) // dtype.itemsize * dtype.itemsize]
                    values = np.frombuffer(usable, dtype)
                    nonfinite += int(values.size - np.count_nonzero(np.isfinite(values)))
                total += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"truncated or corrupt gzip data ({describe(exc)})") from exc
    if total < needed:
        raise InputError(path, f"truncated file: the header promises {needed} bytes, the data unpacks to {total}")
    return nonfinite


def read_nifti_voxels(path: str | Path, header: NiftiHeader) -> np.ndarray:
    """The voxels as stored (NaN kept), scaled by scl_slope/scl_inter, as a (Z, Y, X) float32 array."""
    with _open(Path(path)) as handle:
        handle.read(header.vox_offset)
        data = handle.read(header.data_bytes)
    dtype = np.dtype(header.byte_order + FLOAT_TYPES[header.datatype])
    values = np.frombuffer(data, dtype).astype(np.float32).reshape(tuple(reversed(header.dims[:3])))
    slope, intercept = header.scale
    if slope and np.isfinite(slope) and (slope, intercept) != (1.0, 0.0):
        values = values * np.float32(slope) + np.float32(intercept)
    return values


def _open(path: Path):
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _is_gzip(path: Path) -> bool:
    """By content, not name: a ``.nii.gz`` that is not compressed (or a compressed ``.nii``) is common."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
