"""File input and output (no torch): 2D images and masks, DICOM, 3D volumes, atomic writes."""

from lungseg.io.atomic import atomic_path, staged_writes, write_text_atomic
from lungseg.io.detect import file_kind, holds_dicom
from lungseg.io.dicom import (
    DicomSeries,
    read_dicom_header,
    read_dicom_series,
    read_dicom_slice,
)
from lungseg.io.images2d import IMAGE_SUFFIXES, read_image, write_mask_png, write_png
from lungseg.io.masks import MASK_SUFFIXES, parse_mask_labels, read_mask, read_mask_with_labels, read_mask_with_rule
from lungseg.io.paths import check_file_target, check_folder_target, refuse_overwriting_inputs
from lungseg.io.split_record import Split
from lungseg.io.volumes import VOLUME_SUFFIXES, read_volume, write_volume

__all__ = [
    "IMAGE_SUFFIXES",
    "MASK_SUFFIXES",
    "VOLUME_SUFFIXES",
    "DicomSeries",
    "Split",
    "atomic_path",
    "check_file_target",
    "check_folder_target",
    "file_kind",
    "holds_dicom",
    "parse_mask_labels",
    "read_dicom_header",
    "read_dicom_series",
    "read_dicom_slice",
    "read_image",
    "read_mask",
    "read_mask_with_rule",
    "read_mask_with_labels",
    "read_volume",
    "refuse_overwriting_inputs",
    "staged_writes",
    "write_mask_png",
    "write_png",
    "write_text_atomic",
    "write_volume",
]
