"""What kind of input a file is, decided in one place (suffix first, then the DICOM header)."""

from __future__ import annotations

from pathlib import Path

from lungseg.io.dicom import read_dicom_header
from lungseg.io.images2d import IMAGE_SUFFIXES
from lungseg.io.volumes import VOLUME_SUFFIXES


def file_kind(path: str | Path) -> str | None:
    """``"volume"`` (NIfTI/NRRD/MHA), ``"dicom"`` (``.dcm``, or any other file with a DICOM header, as PACS
    exports often have no suffix), ``"image"`` (PNG/JPEG/TIFF/BMP) or None (none of these)."""
    lower = Path(path).name.lower()
    if lower.endswith(VOLUME_SUFFIXES):
        return "volume"
    if lower.endswith(".dcm"):
        return "dicom"
    if lower.endswith(IMAGE_SUFFIXES):
        return "image"
    return "dicom" if _has_dicom_header(path) else None


def holds_dicom(folder: str | Path) -> bool:
    """Whether a folder directly contains at least one readable DICOM file (its header is read once)."""
    return any(_may_be_dicom(path) and _has_dicom_header(path) for path in sorted(Path(folder).iterdir()))


def _may_be_dicom(path: Path) -> bool:
    lower = path.name.lower()
    return lower.endswith(".dcm") or not lower.endswith(VOLUME_SUFFIXES + IMAGE_SUFFIXES)


def _has_dicom_header(path: str | Path) -> bool:
    return Path(path).is_file() and read_dicom_header(path) is not None
