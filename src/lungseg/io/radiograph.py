"""Projection radiographs (chest X-rays): DICOM CR/DX files and picture exports, with what the header says.

DICOM files are read by ``io.dicom_radiograph`` (modality and VOI LUTs applied, MONOCHROME1 inverted,
so dense tissue is bright; pixel spacing, view position and orientation from the header). Pictures
(PNG/JPG/TIFF, 8- or 16-bit, gray or RGB) are read by ``images2d.read_image`` (RGB -> gray) and carry
no header facts.
"""

from __future__ import annotations

from pathlib import Path

from lungseg.io.detect import file_kind
from lungseg.io.dicom_radiograph import (
    LATERAL_VIEWS,
    RADIOGRAPH_MODALITIES,
    Radiograph,
    is_radiograph_header,
    read_radiograph_dicom,
)
from lungseg.io.images2d import read_image

__all__ = [
    "LATERAL_VIEWS",
    "RADIOGRAPH_MODALITIES",
    "Radiograph",
    "is_radiograph_header",
    "read_radiograph",
    "read_radiograph_dicom",
]


def read_radiograph(path: str | Path) -> Radiograph:
    """A DICOM radiograph or a picture file -> ``Radiograph``; ``InputError`` names the file."""
    path = Path(path)
    if file_kind(path) == "dicom" or path.suffix.lower() == ".dcm":
        return read_radiograph_dicom(path)
    return Radiograph(read_image(path))
