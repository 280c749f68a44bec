"""Bounds on allocations that depend on values read from a file header.

A damaged or hostile header can claim 10^10 pixels; every reader checks the claim against these
bounds *before* decoding, and refuses with the reason instead of exhausting memory. The bounds are
far above real data: a 4096x4096 radiograph is 16.8 M pixels, a 512x512x1000 CT 262 M voxels.

The same applies to byte counts and offsets a header states: a NIfTI ``vox_offset`` decides how much is
skipped (and, for ``.nii.gz``, inflated) before the voxels, a text header's length how much is parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lungseg.errors import InputError

MAX_IMAGE_PIXELS = 8192 * 8192  # one 2D image (67 M pixels)
MAX_VOLUME_VOXELS = 1024 * 1024 * 1024 // 4  # one volume (268 M voxels: 512 MB as int16)
MAX_VOLUME_BYTES = MAX_VOLUME_VOXELS * 8  # its stored data at 8 bytes a voxel (float64): 2 GiB
# NIfTI header extensions (between the header and vox_offset) hold DICOM tags or XML, a few kB to a
# few MB in real files; 64 MiB is far above that and caps what a hostile vox_offset makes us skip.
MAX_NIFTI_EXTENSION_BYTES = 64 * 1024 * 1024
MAX_TEXT_HEADER_BYTES = 1024 * 1024  # an MHA/NRRD text header (real ones: a few kB)


def check_size(
    shape: Sequence[int], source: str | Path | None, what: str = "image", claim: str = "the header claims"
) -> None:
    """Refuse a claimed ``shape`` with a non-positive axis or more elements than allowed for ``what``
    (``"image"`` for one 2D image, ``"volume"`` for a 3D volume); ``claim`` says where the size comes from."""
    dims = [int(v) for v in shape]
    if not dims or min(dims) < 1:
        raise InputError(source, f"{claim} an empty {what} of size {tuple(dims)}")
    count = 1
    for value in dims:
        count *= value
    limit = MAX_IMAGE_PIXELS if what == "image" else MAX_VOLUME_VOXELS
    if count > limit:
        shown = "x".join(str(v) for v in dims)
        raise InputError(
            source,
            f"{claim} a {shown} {what} ({count:.3g} {_unit(what)}), more than the "
            f"{limit:.3g} lungseg handles (damaged header or extreme spacing)",
        )


def _unit(what: str) -> str:
    return "pixels" if what == "image" else "voxels"
