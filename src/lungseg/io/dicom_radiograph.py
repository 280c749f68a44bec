"""DICOM projection radiographs (CR/DX): pixels through the modality and VOI LUTs, and what the header says.

DICOM pixel data goes through the modality LUT (RescaleSlope/Intercept or a Modality LUT sequence),
then the VOI LUT (a VOI LUT sequence, else the first WindowCenter/WindowWidth with its VOI LUT
function; without either the stored range is kept), and MONOCHROME1 data (bright = low values) is
inverted, so the result always shows dense tissue bright, as a radiologist sees it.

The header also gives the pixel spacing for areas: ImagerPixelSpacing (at the detector; divided by
EstimatedRadiographicMagnificationFactor when present, else it overstates patient size by the usual
~10 % of a PA chest film) or PixelSpacing (calibrated to the patient), the view position (PA, AP,
lateral) and PatientOrientation (which patient side the image rows run towards). ``io.images2d`` reads
a radiograph DICOM through here; ``io.radiograph`` reads a radiograph from either kind of file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.io.dicom import check_transfer_syntax
from lungseg.io.limits import check_size

RADIOGRAPH_MODALITIES = {
    "CR": "computed radiography",
    "DX": "digital X-ray",
    "RG": "radiographic imaging",
    "DR": "digital radiography",
}
LATERAL_VIEWS = ("LL", "RL", "LAT", "LATERAL", "LLD", "RLD")


@dataclass(frozen=True)
class Radiograph:
    """``pixels``: (H, W) float32, dense = bright (DICOM after modality and VOI LUTs, MONOCHROME1
    inverted), or the stored gray values of a picture. ``pixel_spacing_mm``: (row, column) spacing in mm
    at the patient, None when unknown; ``spacing_source`` names the tag it came from. ``view``: the
    ViewPosition (PA, AP, LL, ...) or None; ``row_direction``: the patient side the columns run towards
    (PatientOrientation's first value: "L" in the standard display, patient's right on the image's left)."""

    pixels: np.ndarray
    modality: str | None = None
    view: str | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    spacing_source: str | None = None
    photometric: str | None = None
    row_direction: str | None = None
    voi: str | None = None

    @property
    def lateral(self) -> bool:
        return (self.view or "").upper() in LATERAL_VIEWS


def is_radiograph_header(header) -> bool:
    """Whether a pydicom dataset is a projection radiograph (modality CR/DX/RG/DR)."""
    return str(getattr(header, "Modality", "") or "").upper() in RADIOGRAPH_MODALITIES


def read_radiograph_dicom(path: str | Path) -> Radiograph:
    """One single-frame DICOM radiograph, through its modality and VOI LUTs, MONOCHROME1 inverted."""
    import pydicom

    path = Path(path)
    check_transfer_syntax(path)
    try:
        dataset = pydicom.dcmread(path)
    except Exception as exc:  # truncated or corrupt files raise many types
        raise InputError(path, f"cannot read DICOM ({describe(exc)})") from exc
    rows, columns = int(getattr(dataset, "Rows", 0) or 0), int(getattr(dataset, "Columns", 0) or 0)
    check_size((columns, rows), path, "image")
    pixels, voi = _display_values(dataset, path)
    photometric = str(getattr(dataset, "PhotometricInterpretation", "") or "").upper() or None
    if photometric == "MONOCHROME1":
        pixels = np.float32(pixels.max() + pixels.min()) - pixels
    spacing, source = _spacing(dataset, path)
    orientation = [str(v).upper() for v in (getattr(dataset, "PatientOrientation", None) or [])]
    return Radiograph(
        pixels,
        str(getattr(dataset, "Modality", "") or "") or None,
        str(getattr(dataset, "ViewPosition", "") or "").upper() or None,
        spacing,
        source,
        photometric,
        orientation[0] if orientation else None,
        voi,
    )


def _display_values(dataset, path: Path) -> tuple[np.ndarray, str]:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        stored = dataset.pixel_array
    except Exception as exc:
        raise InputError(path, f"cannot decode DICOM pixel data ({describe(exc)})") from exc
    if stored.ndim == 3 and stored.shape[-1] == 3:
        raise InputError(path, "colour DICOM: a radiograph is stored as MONOCHROME1/2")
    if stored.ndim != 2:
        raise InputError(path, f"DICOM holds {stored.shape[0]} frames; give a single-frame radiograph")
    try:
        values = apply_modality_lut(stored, dataset)
        if "VOILUTSequence" in dataset:
            voi = "VOI LUT sequence"
        elif "WindowCenter" in dataset and "WindowWidth" in dataset:
            voi = f"window {_first(dataset.WindowCenter):g}/{_first(dataset.WindowWidth):g}"
        else:
            return np.asarray(values, np.float32), "none (stored range)"
        return np.asarray(apply_voi_lut(values, dataset, index=0), np.float32), voi
    except Exception as exc:  # malformed LUT or window tags
        raise InputError(path, f"cannot apply the DICOM modality/VOI LUT ({describe(exc)})") from exc


def _first(value) -> float:
    return float(value[0] if hasattr(value, "__len__") and not isinstance(value, str) else value)


def _spacing(dataset, path: Path) -> tuple[tuple[float, float] | None, str | None]:
    """(row, column) mm at the patient and the tag it came from; None when absent or invalid."""
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = getattr(dataset, tag, None)
        try:
            numbers = [float(v) for v in value] if value is not None else []
        except (TypeError, ValueError):
            numbers = []
        if len(numbers) != 2 or not all(0.01 <= v <= 5.0 for v in numbers):
            continue
        if tag == "ImagerPixelSpacing":
            factor = getattr(dataset, "EstimatedRadiographicMagnificationFactor", None)
            try:
                factor = float(factor) if factor is not None else None
            except (TypeError, ValueError):
                factor = None
            if factor and 1.0 <= factor <= 2.0:
                return (numbers[0] / factor, numbers[1] / factor), f"{tag} / magnification {factor:g}"
        return (numbers[0], numbers[1]), tag
    return None, None
