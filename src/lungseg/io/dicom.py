"""DICOM input: single slices and series folders, in Hounsfield units.

Only named standard tags are read, so a malformed private tag (common in real archives) does not stop
loading. Series are grouped by SeriesInstanceUID, localizers are skipped, the largest series is taken
(and a note says so), and slices are sorted by ImagePositionPatient projected on the slice normal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lungseg.errors import Finding, InputError


@dataclass
class DicomSeries:
    """A loaded series: ``image`` is a SimpleITK image in HU with DICOM geometry (LPS).

    ``findings`` lists what loading noticed (other series in the folder, duplicate or missing slices,
    gantry tilt); ``header`` is the first slice's pydicom dataset without pixel data.
    """

    image: object
    series_uid: str
    modality: str
    files: list[Path]
    findings: list[Finding] = field(default_factory=list)
    header: object = None

    @property
    def notes(self) -> list[str]:
        return [finding.message for finding in self.findings]


def read_dicom_slice(path: str | Path) -> np.ndarray:
    """Read one single-frame DICOM file as a 2D float32 array after RescaleSlope/Intercept."""
    dataset = _read_header(Path(path), with_pixels=True)
    if dataset is None:
        raise InputError(path, "not a DICOM file")
    pixels = _pixels_in_hu(dataset, Path(path))
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
    normal = _slice_normal(series[0][1], folder)
    series.sort(key=lambda item: float(np.dot(_position(item[1]), normal)))
    series, position_findings = _check_positions(series, normal)
    findings += position_findings + _check_tilt(series, normal)

    slices = []
    for path, _ in series:
        pixels = _pixels_in_hu(_read_header(path, with_pixels=True), path)
        if slices and pixels.shape != slices[0].shape:
            raise InputError(path, f"slice size {pixels.shape} differs from {slices[0].shape}")
        slices.append(_compact(pixels))
    dtype = np.int16 if all(s.dtype == np.int16 for s in slices) else np.float32
    volume = np.stack([s.astype(dtype, copy=False) for s in slices])
    del slices

    first = series[0][1]
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    positions = [float(np.dot(_position(ds), normal)) for _, ds in series]
    slice_spacing = float(np.median(np.diff(positions))) if len(positions) > 1 else float(
        getattr(first, "SliceThickness", 1.0) or 1.0)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((column_spacing, row_spacing, abs(slice_spacing) or 1.0))
    image.SetOrigin(tuple(float(v) for v in first.ImagePositionPatient))
    row_cosine, column_cosine = _cosines(first)
    image.SetDirection(tuple(np.column_stack([row_cosine, column_cosine, normal]).ravel()))
    return DicomSeries(image=image, series_uid=str(first.SeriesInstanceUID),
                       modality=str(getattr(first, "Modality", "")), files=[p for p, _ in series],
                       findings=findings, header=first)


def _compact(pixels: np.ndarray) -> np.ndarray:
    """Whole-number HU fit int16: half the memory of float32 for a 300-slice study."""
    if pixels.min() >= -32768 and pixels.max() <= 32767 and np.all(np.mod(pixels, 1) == 0):
        return pixels.astype(np.int16)
    return pixels


def _read_header(path: Path, with_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=not with_pixels)
    except InvalidDicomError:
        return None
    except Exception as exc:  # truncated or corrupt files raise many types
        raise InputError(path, f"cannot read DICOM ({str(exc).splitlines()[0][:160]})") from exc


def _pixels_in_hu(dataset, path: Path) -> np.ndarray:
    try:
        pixels = dataset.pixel_array
    except Exception as exc:
        raise InputError(path, f"cannot decode DICOM pixel data ({str(exc).splitlines()[0][:160]})") from exc
    slope = float(getattr(dataset, "RescaleSlope", 1) or 1)
    intercept = float(getattr(dataset, "RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * slope + intercept


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
    uid, series = max(groups.items(), key=lambda item: len(item[1]))
    findings = [Finding("info", "localizers-skipped", f"skipped {skipped} localizer/non-image file(s)")
                ] if skipped else []
    if len(groups) > 1:
        findings.append(Finding("warn", "mixed-series", f"folder holds {len(groups)} series; using the "
                                                        f"largest ({uid}, {len(series)} slices)"))
    return series, findings


def _is_localizer(dataset) -> bool:
    image_type = [str(v).upper() for v in (getattr(dataset, "ImageType", None) or [])]
    if "LOCALIZER" in image_type:
        return True
    needed = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows")
    return not all(hasattr(dataset, name) for name in needed)


def _cosines(dataset) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([float(v) for v in dataset.ImageOrientationPatient])
    return values[:3], values[3:]


def _slice_normal(dataset, folder: Path) -> np.ndarray:
    row_cosine, column_cosine = _cosines(dataset)
    normal = np.cross(row_cosine, column_cosine)
    if np.linalg.norm(normal) < 1e-3:
        raise InputError(folder, "ImageOrientationPatient is degenerate")
    return normal / np.linalg.norm(normal)


def _position(dataset) -> np.ndarray:
    return np.array([float(v) for v in dataset.ImagePositionPatient])


def _check_positions(series: list, normal: np.ndarray) -> tuple[list, list[Finding]]:
    """Drop slices that repeat a position; report gaps larger than 1.5x the usual spacing."""
    if len(series) < 2:
        return series, []
    findings = []
    positions = np.array([np.dot(_position(ds), normal) for _, ds in series])
    keep = np.concatenate([[True], np.abs(np.diff(positions)) >= 1e-3])
    if not keep.all():
        findings.append(Finding("warn", "duplicate-slices", f"{int((~keep).sum())} duplicate slice position(s); "
                                                            "kept the first file of each"))
        series, positions = [item for item, k in zip(series, keep) if k], positions[keep]
    gaps = np.diff(positions)
    spacing = float(np.median(gaps)) if len(gaps) else 0.0
    if spacing > 0 and np.any(gaps > 1.5 * spacing):
        findings.append(Finding("warn", "missing-slices",
                                f"{int(np.sum(gaps > 1.5 * spacing))} gap(s) larger than 1.5x the slice spacing "
                                f"of {spacing:g} mm (missing slices?); volumes are underestimated"))
    return series, findings


def _check_tilt(series: list, normal: np.ndarray) -> list[Finding]:
    """Gantry tilt: slice positions step along a direction other than the slice normal."""
    tilt_tag = float(getattr(series[0][1], "GantryDetectorTilt", 0) or 0)
    angle = 0.0
    if len(series) > 1:
        step = _position(series[-1][1]) - _position(series[0][1])
        if np.linalg.norm(step) > 0:
            cosine = abs(float(np.dot(step / np.linalg.norm(step), normal)))
            angle = float(np.degrees(np.arccos(min(1.0, cosine))))
    if max(abs(tilt_tag), angle) < 0.5:
        return []
    return [Finding("warn", "gantry-tilt", f"gantry tilt of {max(abs(tilt_tag), angle):.1f} degrees; slices are "
                                           "treated as stacked along their normal, so geometry is approximate")]
