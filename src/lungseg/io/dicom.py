"""DICOM input: single slices and series folders, in Hounsfield units.

Only named standard tags are read, so a malformed private tag (common in real archives) does not stop
loading. Series are grouped by SeriesInstanceUID, localizers are skipped, a chest CT is preferred
among several series (``dicom_select``; a finding says which and why), and slices are sorted by
ImagePositionPatient projected on the slice normal. Rows x Columns (x frames x slices) is checked
against the limits before any pixel data is decoded, and the spacing is checked (``spacing``). Every
file is checked for a deflated transfer syntax before pydicom reads past its file meta information
(``check_transfer_syntax``): pydicom inflates such a dataset whole and without a bound.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lungseg import findings as catalogue
from lungseg.errors import InputError, describe
from lungseg.findings import Finding
from lungseg.io.dicom_select import choose_series
from lungseg.io.limits import check_size
from lungseg.io.spacing import check_spacing


@dataclass
class DicomSeries:
    """A loaded series: ``image`` is a SimpleITK image in HU with DICOM geometry (LPS).

    ``findings`` lists what loading noticed (other series in the folder, duplicate or missing slices,
    gantry tilt, invalid spacing); ``header`` is the first slice's pydicom dataset without pixel data;
    ``spacing_known`` is False when the spacing had to be assumed.
    """

    image: object
    modality: str
    files: list[Path]
    findings: list[Finding] = field(default_factory=list)
    header: object = None
    spacing_known: bool = True

    @property
    def notes(self) -> list[str]:
        return [finding.message for finding in self.findings]


def read_dicom_slice(path: str | Path) -> np.ndarray:
    """Read one single-frame DICOM file as a 2D float32 array after RescaleSlope/Intercept."""
    header = _read_header(Path(path))
    if header is None:
        raise InputError(path, "not a DICOM file")
    _check_pixel_size(header, Path(path))
    pixels = _pixels_in_hu(_read_header(Path(path), with_pixels=True), Path(path))
    if pixels.ndim != 2:
        raise InputError(path, f"DICOM holds {pixels.shape[0]} frames; give a single-frame file")
    return pixels


def read_dicom_header(path: str | Path):
    """The pydicom dataset of one file without pixel data, or None when it is not DICOM."""
    return _read_header(Path(path))


def read_dicom_series(folder: str | Path) -> DicomSeries:
    """Read the largest image series below ``folder`` into a 3D SimpleITK image in HU.

    Duplicate slice positions are dropped (the first file is kept); gaps, tilt and other series are
    reported in ``findings``, not hidden.
    """
    import SimpleITK as sitk

    folder = Path(folder)
    series, findings = _pick_series(_collect_headers(folder), folder)
    normal = _slice_normal(series[0][1], series[0][0])
    series.sort(key=lambda item: float(np.dot(_position(item[1], item[0]), normal)))
    series, position_findings = _check_positions(series, normal)
    findings += position_findings + _check_tilt(series, normal)
    first_path, first = series[0]
    rows, columns = _check_pixel_size(first, first_path)
    check_size((columns, rows, len(series)), folder, "volume")

    slices = []
    for path, _ in series:
        pixels = _pixels_in_hu(_read_header(path, with_pixels=True), path)
        if slices and pixels.shape != slices[0].shape:
            raise InputError(path, f"slice size {pixels.shape} differs from {slices[0].shape}")
        slices.append(_compact(pixels))
    dtype = np.int16 if all(s.dtype == np.int16 for s in slices) else np.float32
    volume = np.stack([s.astype(dtype, copy=False) for s in slices])
    del slices

    row_spacing, column_spacing = _floats(first, "PixelSpacing", first_path, (float("nan"),) * 2)[:2]
    thickness = _floats(first, "SliceThickness", first_path, (float("nan"),))[0]
    positions = [float(np.dot(_position(ds, path), normal)) for path, ds in series]
    slice_spacing = abs(float(np.median(np.diff(positions)))) if len(positions) > 1 else thickness
    spacing = check_spacing((column_spacing, row_spacing, slice_spacing), slice_hint=thickness)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing(spacing.spacing)
    image.SetOrigin(tuple(_position(first, first_path)))
    row_cosine, column_cosine = _cosines(first, first_path)
    image.SetDirection(tuple(np.column_stack([row_cosine, column_cosine, normal]).ravel()))
    return DicomSeries(
        image=image,
        modality=str(getattr(first, "Modality", "")),
        files=[p for p, _ in series],
        findings=findings + list(spacing.findings),
        header=first,
        spacing_known=spacing.known,
    )


def _check_pixel_size(header, path: Path) -> tuple[int, int]:
    """Rows and Columns from the header, checked before the pixel data is decoded; colour pixels
    (SamplesPerPixel above 1: an RGB or YBR screenshot or secondary capture) are refused as such."""
    samples = int(_floats(header, "SamplesPerPixel", path, (1.0,))[0])
    if samples > 1:
        photometric = str(getattr(header, "PhotometricInterpretation", "") or "colour")
        raise InputError(
            path,
            f"DICOM pixels are {photometric} colour ({samples} samples per pixel), not the one "
            "gray channel of CT in Hounsfield units (a screenshot or secondary capture?); "
            "give the original gray CT series",
        )
    rows, columns = int(getattr(header, "Rows", 0) or 0), int(getattr(header, "Columns", 0) or 0)
    frames = int(_floats(header, "NumberOfFrames", path, (1.0,))[0])
    check_size((columns, rows, frames) if frames > 1 else (columns, rows), path, "volume" if frames > 1 else "image")
    return rows, columns


def _floats(dataset, name: str, path: Path, default: tuple[float, ...]) -> tuple[float, ...]:
    """Numeric tag values as floats, ``default`` when absent; malformed values name the file and tag."""
    try:
        value = getattr(dataset, name, None)
    except (TypeError, ValueError) as exc:  # pydicom converts DS/IS values on access
        raise InputError(path, f"DICOM tag {name} is malformed ({describe(exc)})") from exc
    if value is None or value == "":
        return default
    values = value if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else [value]
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise InputError(path, f"DICOM tag {name} holds {value!r}, not numbers") from exc


def _compact(pixels: np.ndarray) -> np.ndarray:
    """Whole-number HU fit int16: half the memory of float32 for a 300-slice study."""
    if pixels.min() >= -32768 and pixels.max() <= 32767 and np.all(np.mod(pixels, 1) == 0):
        return pixels.astype(np.int16)
    return pixels


DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian


def check_transfer_syntax(path: str | Path) -> None:
    """Refuse a DICOM file in the Deflated Explicit VR Little Endian transfer syntax.

    pydicom inflates everything after the file meta information in one ``zlib.decompress`` with no
    limit, so a 300 kB file can take gigabytes of memory before any size check runs. Only the file meta
    information (preamble and group 0002) is read here; files pydicom cannot read that far pass, and
    ``dcmread`` then says why (or that they are not DICOM)."""
    from pydicom.filereader import read_file_meta_info

    try:
        syntax = str(read_file_meta_info(path).get("TransferSyntaxUID", "") or "")
    except Exception:  # no DICM prefix, truncated or damaged meta: dcmread decides and reports
        return
    if syntax.strip(" \0") == DEFLATED_SYNTAX:
        raise InputError(path, "deflated DICOM is not supported; export uncompressed or JPEG/JPEG 2000")


def _read_header(path: Path, with_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    check_transfer_syntax(path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=not with_pixels)
    except InvalidDicomError:
        return None
    except Exception as exc:  # truncated or corrupt files raise many types
        raise InputError(path, f"cannot read DICOM ({describe(exc)})") from exc


def _pixels_in_hu(dataset, path: Path) -> np.ndarray:
    try:
        pixels = dataset.pixel_array
    except Exception as exc:
        raise InputError(path, f"cannot decode DICOM pixel data ({describe(exc)})") from exc
    slope = _floats(dataset, "RescaleSlope", path, (1.0,))[0]
    intercept = _floats(dataset, "RescaleIntercept", path, (0.0,))[0]
    if not np.isfinite(slope) or slope == 0 or not np.isfinite(intercept):
        raise InputError(
            path, f"RescaleSlope {slope:g} / RescaleIntercept {intercept:g} cannot map stored values to HU"
        )
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _collect_headers(folder: Path) -> list[tuple[Path, object]]:
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    headers = [(p, ds) for p in files if (ds := _read_header(p)) is not None]
    if not headers:
        raise InputError(folder, f"no DICOM files found (looked at {len(files)} files)")
    return headers


def _pick_series(headers, folder: Path):
    groups: dict[str, list] = defaultdict(list)
    skipped = 0
    for path, dataset in headers:
        if _is_localizer(dataset):
            skipped += 1
            continue
        groups[str(getattr(dataset, "SeriesInstanceUID", "unknown"))].append((path, dataset))
    if not groups:
        raise InputError(folder, "only localizer or non-image DICOM files found")
    _, series, findings = choose_series(groups, _sample_pixels)
    if skipped:
        findings.insert(0, catalogue.LOCALIZERS_SKIPPED(count=skipped))
    return series, findings


def _sample_pixels(path: Path, header) -> np.ndarray:
    _check_pixel_size(header, path)
    return _pixels_in_hu(_read_header(path, with_pixels=True), path)


def _is_localizer(dataset) -> bool:
    image_type = [str(v).upper() for v in (getattr(dataset, "ImageType", None) or [])]
    if "LOCALIZER" in image_type:
        return True
    needed = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows")
    return not all(name in dataset for name in needed)  # presence only: values are parsed later, per file


def _cosines(dataset, path: Path) -> tuple[np.ndarray, np.ndarray]:
    values = np.array(_floats(dataset, "ImageOrientationPatient", path, ()))
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        raise InputError(path, f"ImageOrientationPatient must hold 6 numbers, got {values.tolist()}")
    return values[:3], values[3:]


def _slice_normal(dataset, path: Path) -> np.ndarray:
    row_cosine, column_cosine = _cosines(dataset, path)
    normal = np.cross(row_cosine, column_cosine)
    if np.linalg.norm(normal) < 1e-3:
        raise InputError(path, "ImageOrientationPatient is degenerate (row and column directions are parallel)")
    return normal / np.linalg.norm(normal)


def _position(dataset, path: Path | None = None) -> np.ndarray:
    values = np.array(_floats(dataset, "ImagePositionPatient", path, ()))
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise InputError(path, f"ImagePositionPatient must hold 3 numbers, got {values.tolist()}")
    return values


def _check_positions(series: list, normal: np.ndarray) -> tuple[list, list[Finding]]:
    """Drop slices that repeat a position; report gaps larger than 1.5x the usual spacing."""
    if len(series) < 2:
        return series, []
    findings = []
    positions = np.array([np.dot(_position(ds, path), normal) for path, ds in series])
    keep = np.concatenate([[True], np.abs(np.diff(positions)) >= 1e-3])
    if not keep.all():
        findings.append(catalogue.DUPLICATE_SLICES(count=int((~keep).sum())))
        series, positions = [item for item, k in zip(series, keep) if k], positions[keep]
    gaps = np.diff(positions)
    spacing = float(np.median(gaps)) if len(gaps) else 0.0
    if spacing > 0 and np.any(gaps > 1.5 * spacing):
        findings.append(catalogue.MISSING_SLICES(count=int(np.sum(gaps > 1.5 * spacing)), spacing=spacing))
    return series, findings


def _check_tilt(series: list, normal: np.ndarray) -> list[Finding]:
    """Gantry tilt: slice positions step along a direction other than the slice normal."""
    tilt_tag = _floats(series[0][1], "GantryDetectorTilt", series[0][0], (0.0,))[0]
    angle = 0.0
    if len(series) > 1:
        step = _position(series[-1][1], series[-1][0]) - _position(series[0][1], series[0][0])
        if np.linalg.norm(step) > 0:
            cosine = abs(float(np.dot(step / np.linalg.norm(step), normal)))
            angle = float(np.degrees(np.arccos(min(1.0, cosine))))
    if max(abs(tilt_tag), angle) < 0.5:
        return []
    return [catalogue.GANTRY_TILT(degrees=max(abs(tilt_tag), angle))]
