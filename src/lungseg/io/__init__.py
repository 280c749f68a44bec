"""File input and output (no torch): 2D images and masks, DICOM, 3D volumes, atomic writes."""

from lungseg.io.atomic import atomic_path, write_text_atomic
from lungseg.io.detect import file_kind, holds_dicom
from lungseg.io.dicom import (
    DicomSeries,
    read_dicom_header,
    read_dicom_series,
    read_dicom_slice,
)
from lungseg.io.images2d import (
    IMAGE_SUFFIXES,
    MASK_SUFFIXES,
    read_image,
    read_mask,
    write_mask_png,
    write_png,
)
from lungseg.io.volumes import VOLUME_SUFFIXES, read_volume, write_volume

__all__ = [
    "IMAGE_SUFFIXES", "MASK_SUFFIXES", "VOLUME_SUFFIXES", "DicomSeries", "atomic_path", "file_kind", "holds_dicom",
    "read_dicom_header", "read_dicom_series", "read_dicom_slice", "read_image", "read_mask", "read_volume", "write_mask_png",
    "write_png", "write_text_atomic", "write_volume",
]
