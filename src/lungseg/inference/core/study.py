"""A study to segment: a CT volume (DICOM series, NIfTI/NRRD/MHA) or one 2D slice, with what is known
about it (modality, source files, findings from loading)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from lungseg import findings as catalogue
from lungseg.errors import InputError
from lungseg.findings import Finding
from lungseg.io import (
    IMAGE_SUFFIXES,
    VOLUME_SUFFIXES,
    file_kind,
    read_dicom_header,
    read_dicom_series,
    read_dicom_slice,
    read_image,
)
from lungseg.io.dicom_radiograph import Radiograph, is_radiograph_header, read_radiograph_dicom
from lungseg.io.spacing import check_spacing
from lungseg.io.volumes import read_volume_file
from lungseg.preprocessing import stored_hu_offset

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class Study:
    """``image`` is a SimpleITK image (volume) or an (H, W) array (slice); ``dicom_files`` are the source
    files in slice order when the study came from DICOM."""

    source: str | Path | None  # a str as given to ``as_study`` with an array or image
    image: sitk.Image | np.ndarray
    is_volume: bool
    modality: str | None = None
    findings: list[Finding] = field(default_factory=list)
    dicom_files: list[Path] = field(default_factory=list)
    spacing_known: bool = True
    radiograph: Radiograph | None = None  # a DICOM radiograph's header facts (view, pixel spacing, sides)

    @property
    def name(self) -> str:
        return "image" if self.source is None else study_name(Path(self.source))

    @property
    def volume(self) -> sitk.Image:
        """``image`` of a volume study (``is_volume``); ``TypeError`` for a slice."""
        import SimpleITK as sitk

        if not isinstance(self.image, sitk.Image):
            raise TypeError(f"{self.name} is a 2D slice, not a volume")
        return self.image


def study_name(path: Path) -> str:
    """A study's file or folder name without its image/volume suffix (``scan.nii.gz`` -> ``scan``)."""
    name = path.name
    for suffix in sorted(VOLUME_SUFFIXES + IMAGE_SUFFIXES + (".dcm",), key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_study(path: str | Path) -> Study:
    """A DICOM folder or file, a volume file or a 2D image file -> ``Study``."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "input not found")
    if path.is_dir():
        film = _single_radiograph(path)
        if film is not None:
            return load_study(film)
        series = read_dicom_series(path)
        return Study(
            path,
            cast("sitk.Image", series.image),  # lungseg.io types it as object
            True,
            series.modality,
            list(series.findings),
            series.files,
            series.spacing_known,
        )
    kind = file_kind(path)
    if kind == "volume":
        return _volume_study(path)
    if kind == "image":
        return _image_study(path)
    header = read_dicom_header(path) if kind == "dicom" else None
    if header is None:
        raise InputError(path, "not a DICOM file, volume or supported image")
    if is_radiograph_header(header):
        radiograph = read_radiograph_dicom(path)
        return Study(
            path,
            radiograph.pixels,
            False,
            radiograph.modality,
            dicom_files=[path],
            spacing_known=radiograph.pixel_spacing_mm is not None,
            radiograph=radiograph,
        )
    return Study(path, read_dicom_slice(path), False, str(getattr(header, "Modality", "")), dicom_files=[path])


def _single_radiograph(folder: Path, most: int = 8) -> Path | None:
    """The one DICOM radiograph (CR/DX) a small folder holds (an upload of one film), else None; several
    radiographs (a PA and a lateral view) are refused, since each is its own study."""
    files = []
    for child in folder.rglob("*"):
        if child.is_file() and not child.name.startswith("."):
            files.append(child)
            if len(files) > most:
                return None  # a CT series: read_dicom_series decides
    headers = [(child, read_dicom_header(child)) for child in sorted(files)]
    films = [child for child, header in headers if header is not None and is_radiograph_header(header)]
    if len(films) > 1:
        raise InputError(
            folder,
            f"holds {len(films)} radiographs ({', '.join(f.name for f in films[:4])}); "
            "each film is its own study: give one file",
        )
    return films[0] if films else None


def _image_study(path: Path) -> Study:
    """A 2D image file; a 16-bit one that holds CT with a stored HU offset (``stored_hu_offset``: +1024
    with air near 0, or +32768) is shifted back to Hounsfield units, with a warning saying so."""
    image = read_image(path)
    offset = stored_hu_offset(image) if image.ndim == 2 else None
    if offset is None:
        return Study(path, image, False)
    finding = catalogue.HU_OFFSET(
        dtype=image.dtype, low=float(image.min()), high=float(image.max()), offset=offset, air=float(offset - 1000)
    )
    return Study(path, (image.astype(np.int32) - offset).astype(np.int16), False, findings=[finding])


def _volume_study(path: Path) -> Study:
    """A NIfTI/NRRD/MHA file: one 3D channel, with its stored spacing checked (``io.spacing``)."""
    volume = read_volume_file(path)
    image = cast("sitk.Image", volume.image)  # lungseg.io types it as object
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            path,
            f"expected a 3D single-channel volume, got {image.GetDimension()}D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s)",
        )
    spacing = check_spacing(volume.stored_spacing)
    if spacing.spacing != image.GetSpacing():
        image.SetSpacing(spacing.spacing)
    return Study(path, image, True, findings=list(spacing.findings), spacing_known=spacing.known)


def as_study(image: Any, source: str | Path | None = None) -> Study:
    """Wrap what ``Segmenter.apply`` accepts: a path, a SimpleITK image, a (Z, Y, X) or (H, W) array."""
    import SimpleITK as sitk

    if isinstance(image, Study):
        return image
    if isinstance(image, (str, Path)):
        return load_study(image)
    if isinstance(image, sitk.Image):
        if image.GetDimension() == 2:
            return Study(source, sitk.GetArrayFromImage(image), False)
        return Study(source, image, True)
    array = np.asarray(image)
    if array.ndim == 2:
        return Study(source, array, False)
    if array.ndim == 3:  # no geometry: taken as axial LPS slices, volumes are not reported
        return Study(source, sitk.GetImageFromArray(array), True, spacing_known=False)
    raise InputError(source, f"expected a 2D slice or a 3D volume, got an array of shape {array.shape}")


def is_study_path(path: Path) -> bool:
    """Whether a folder entry is something ``load_study`` can read on its own (batch mode)."""
    if path.is_dir():
        return any(child.is_file() for child in path.rglob("*"))
    return file_kind(path) is not None
