"""3D volumes: NIfTI/NRRD/MHA through SimpleITK and DICOM series folders, keeping spacing, origin and
direction.

Before any voxel is read, the size in the header is checked against ``limits.MAX_VOLUME_VOXELS``;
a NIfTI file is also checked for truncation (ITK would read it without a word) and its stored spacing
is kept, since ITK silently turns a zero or NaN spacing into 1 mm. ITK's own console warnings are
silenced during the read: what matters is reported as findings and errors instead.

A file is only ever read by the ITK reader its suffix names (ITK would otherwise try every reader it
has, so the checks made for one format could be bypassed by another), and only if its voxels are inside
it: a MetaImage or NRRD header may point ITK at any file on the server (``text_headers.check_attached``),
so detached headers and data file fields are refused before ITK runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lungseg.errors import InputError, describe
from lungseg.io.atomic import atomic_path
from lungseg.io.dicom import read_dicom_series
from lungseg.io.limits import check_size
from lungseg.io.nifti import check_nifti_data, read_nifti_header, read_nifti_voxels
from lungseg.io.text_headers import check_attached, readable_copy

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")  # .nhdr/.mhd: recognised, refused
READABLE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")
IMAGE_IO = {".nii": "NiftiImageIO", ".nii.gz": "NiftiImageIO", ".nrrd": "NrrdImageIO", ".mha": "MetaImageIO"}


@dataclass(frozen=True)
class VolumeFile:
    """A volume read from a file: the SimpleITK image and the spacing its header states (which may be
    invalid; ``image`` then carries ITK's replacement)."""

    image: object
    stored_spacing: tuple[float, ...]


def read_volume(path: str | Path):
    """Read a volume as a SimpleITK image; a folder is read as a DICOM series (see ``read_dicom_series``)."""
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path).image
    return read_volume_file(path).image


def read_volume_file(path: str | Path) -> VolumeFile:
    """Read a NIfTI/NRRD/MHA file with its header checks (see the module docstring)."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.name.lower().endswith(VOLUME_SUFFIXES):
        raise InputError(
            path, f"not a supported volume type; supported: {', '.join(READABLE_SUFFIXES)} or a DICOM folder"
        )
    if not path.is_file():
        raise InputError(path, "file not found")
    check_attached(path)
    nifti, nonfinite = None, 0
    if path.name.lower().endswith((".nii", ".nii.gz")):
        nifti = read_nifti_header(path)
        check_size(nifti.dims[:3] or (0,), path, "volume")
        nonfinite = check_nifti_data(path, nifti)
    try:
        image, stored = _read_itk(path), None
    except RuntimeError as exc:
        if "spacing" not in str(exc):
            raise InputError(path, f"cannot read volume: truncated or corrupt file ({_itk_reason(exc)})") from exc
        with readable_copy(path) as (copy, stored):  # a zero spacing ITK will not read: assumed, with a warning
            if copy is None:
                raise InputError(path, f"the header's voxel spacing is unusable ({_itk_reason(exc)})") from exc
            image = _read_itk(copy, shown=path)
    if nonfinite and len(nifti.dims) == 3:  # ITK read them as 0: put the stored NaN/inf back
        stored_image = sitk.GetImageFromArray(read_nifti_voxels(path, nifti))
        stored_image.CopyInformation(image)
        image = stored_image
    # a negative pixdim is read by ITK as a flip of that axis (a valid geometry): only its size counts here
    if nifti is not None:
        stored = tuple(abs(float(v)) for v in nifti.pixdim[: image.GetDimension()])
    return VolumeFile(image, stored or image.GetSpacing())


def _read_itk(path: Path, shown: Path | None = None):
    """Read with the ITK reader of the suffix after checking that the data is in the file and the header's
    size; ITK's ``RuntimeError`` passes through."""
    import SimpleITK as sitk

    check_attached(path, shown)
    name = path.name.lower()
    suffix = next((s for s in sorted(IMAGE_IO, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        raise InputError(shown or path, f"not a supported volume type; supported: {', '.join(READABLE_SUFFIXES)}")
    if suffix == ".nii.gz" and path.with_name(path.name[:-3]).exists():
        # NIfTI's reader opens "x.nii" instead of "x.nii.gz" when both exist: the checks would miss it
        raise InputError(shown or path, f"{path.name[:-3]} beside it would be read instead; move one of them")
    with quiet_itk():
        reader = sitk.ImageFileReader()
        reader.SetImageIO(IMAGE_IO[suffix])
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        check_size(reader.GetSize(), shown or path, "volume")
        return reader.Execute()


def write_volume(path: str | Path, image) -> None:
    """Write a SimpleITK image atomically (format from the suffix, compressed where supported)."""
    import SimpleITK as sitk

    with atomic_path(path) as temporary, quiet_itk():
        sitk.WriteImage(image, str(temporary), useCompression=True)


@contextmanager
def quiet_itk() -> Iterator[None]:
    """Silence ITK's console warnings for the duration of the block (restored afterwards)."""
    import SimpleITK as sitk

    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _itk_reason(exc: RuntimeError) -> str:
    """ITK's messages end with a line that names the cause; keep that line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = next((line for line in reversed(lines) if not line.startswith("Reason:")), None)
    return (reason or describe(exc))[:160]
