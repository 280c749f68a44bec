"""What kind of input a file is, decided in one place (suffix first, then the DICOM header)."""

from __future__ import annotations

from pathlib import Path

from lungseg.io.dicom import read_dicom_header
from lungseg.io.images2d import IMAGE_SUFFIXES
from lungseg.io.volumes import VOLUME_SUFFIXES

FILE_KINDS = ("volume", "image", "dicom")


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
    return "dicom" if Path(path).is_file() and read_dicom_header(path) is not None else None


def holds_dicom(folder: str | Path) -> bool:
    """Whether a folder directly contains at least one readable DICOM file."""
    return any(path.is_file() and file_kind(path) == "dicom" and read_dicom_header(path) is not None
               for path in sorted(Path(folder).iterdir()))
