"""3D volumes: NIfTI/NRRD/MHA through SimpleITK and DICOM series folders, keeping spacing, origin and
direction."""

from __future__ import annotations

from pathlib import Path

from lungseg.errors import InputError
from lungseg.io.atomic import atomic_path

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def read_volume(path: str | Path):
    """Read a volume as a SimpleITK image; a folder is read as a DICOM series (see ``read_dicom_series``)."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        from lungseg.io.dicom import read_dicom_series

        return read_dicom_series(path).image
    if not path.name.lower().endswith(VOLUME_SUFFIXES):
        raise InputError(path, f"not a supported volume type; supported: {', '.join(VOLUME_SUFFIXES)} "
                               "or a DICOM folder")
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(path, f"cannot read volume ({str(exc).strip().splitlines()[-1][:160]})") from exc


def write_volume(path: str | Path, image) -> None:
    """Write a SimpleITK image atomically (format from the suffix, compressed where supported)."""
    import SimpleITK as sitk

    with atomic_path(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=True)
