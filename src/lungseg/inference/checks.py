"""Input checks for the CT lung model: refuse what it cannot segment, flag what needs care.

Before inference: X-ray and non-CT modalities, NaN/inf values (``check_finite``: filled from the
nearest finite pixel with a warning, refused when they are most of the image), pixel data that is
not in HU (8-bit screenshots, raw stored values without RescaleIntercept), X-ray-like 2D pictures,
oblique or non-axial orientation. After inference (``check_result``): no lungs found (for a scan
shorter than ``FULL_EXTENT_MM`` the mL bound shrinks in proportion; without a known spacing the lung
fraction of the voxels decides), lungs touching the first or last slice or a scan too short to hold
them (partial coverage), implausible lung volumes or a missing lung. Each finding has a level (refuse, warn,
info), a stable code and a message; a refusal raises ``InputError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lungseg.errors import Finding, InputError
from lungseg.preprocessing import fill_nonfinite, nonfinite_count

XRAY_MODALITIES = {"CR": "computed radiography", "DX": "digital X-ray", "MG": "mammography",
                   "XA": "X-ray angiography", "RF": "fluoroscopy", "PX": "panoramic X-ray"}
MIN_LUNG_ML = 100.0          # less than this in a volume: no lungs in the scan
PLAUSIBLE_LUNG_ML = (400.0, 5000.0)   # one adult lung at CT (breath-hold or free breathing)
PLAUSIBLE_TOTAL_ML = (1500.0, 9000.0)
AIR_HU = -500.0
MIN_SLICE_FRACTION = 0.001  # a chest CT slice shows lungs on far more than 0.1 % of its pixels
AIR_CHECK_ML, AIR_LIKE_PERCENT = 1000.0, 50.0  # little "lung" that is mostly below -950 HU is gas, not lung
TRACHEA_HALF_WIDTH_MM = 30.0   # lung on an end slice counts only this far from the midline
END_SLICE_LUNG_MM2 = 200.0     # 2 cm^2 of lung on the first or last slice: the scan cuts the lungs
FULL_EXTENT_MM = 100.0         # a scan at least this long can hold MIN_LUNG_ML of lung; shorter ones are partial
MAX_NONFINITE_FRACTION = 0.5   # more NaN/inf than this: too little image left to segment
AIR_FILL_HU = -1024.0


def check_modality(modality: str | None) -> list[Finding]:
    modality = (modality or "").upper()
    if modality in XRAY_MODALITIES:
        return [Finding("refuse", "xray-modality", f"DICOM modality {modality} ({XRAY_MODALITIES[modality]}) is a "
                                                   "projection X-ray; this model segments CT slices")]
    if modality and modality != "CT":
        return [Finding("refuse", "not-ct", f"DICOM modality {modality} is not CT; this model segments CT")]
    return []


def check_finite(array: np.ndarray, expects_hu: bool) -> tuple[np.ndarray, list[Finding]]:
    """NaN/inf values: the array with them filled from the nearest finite pixel of the same slice (a
    slice with none becomes air) and a warning with the count, or a refusal when they are most of it."""
    bad = nonfinite_count(array)
    if not bad:
        return array, []
    share = bad / array.size
    if share > MAX_NONFINITE_FRACTION:
        return array, [Finding("refuse", "non-finite", f"{bad} of {array.size} values ({100 * share:.0f}%) are NaN or "
                                                       "infinite: too little image to segment")]
    filled = fill_nonfinite(array, AIR_FILL_HU if expects_hu else 0.0)
    return filled, [Finding("warn", "non-finite", f"{bad} NaN/infinite value(s) ({100 * share:.2g}%) were filled "
                                                  "from the nearest finite pixel; results there are unreliable")]


def check_intensity(array: np.ndarray, expects_hu: bool, is_volume: bool) -> list[Finding]:
    """HU CT holds air (about -1000 HU) around and inside the chest; pictures and raw values do not."""
    if not expects_hu:
        return []
    low, high = float(array.min()), float(array.max())
    integral = np.issubdtype(array.dtype, np.integer) or high > 1.0
    if array.dtype == np.uint8 or (low >= 0 and high <= 255 and integral):
        picture = "an X-ray or screenshot" if not is_volume else "a screenshot or windowed export"
        return [Finding("refuse", "not-hu", f"pixel values lie within 0..255, so this is an 8-bit picture "
                                            f"({picture}), not CT in Hounsfield units; give the original "
                                            "DICOM/NIfTI/int16 TIFF")]
    if low > AIR_HU:
        return [Finding("refuse", "not-hu", f"no values below {AIR_HU:g} (range {low:g}..{high:g}): no air in the "
                                            "image, so the pixels are not CT in Hounsfield units (an X-ray, or "
                                            "stored values without RescaleSlope/Intercept)")]
    return []


def check_xray_like(image: np.ndarray) -> list[Finding]:
    """A 2D HU-range image that looks like a radiograph: no air-valued background at all is handled by
    ``check_intensity``; here a tall, large portrait frame typical of chest films."""
    height, width = image.shape[:2]
    if height > 1.15 * width and max(height, width) > 1024:
        return [Finding("warn", "xray-like", f"{width}x{height} portrait frame looks like a chest radiograph, "
                                             "not an axial CT slice")]
    return []


def check_orientation(direction: tuple[float, ...]) -> list[Finding]:
    """Direction cosines of a volume (row-major 3x3): oblique axes or a non-axial slice normal."""
    matrix = np.array(direction, dtype=float).reshape(3, 3)
    normal = matrix[:, 2]
    findings = []
    if np.max(np.abs(matrix), axis=0).min() < 0.99:
        findings.append(Finding("warn", "oblique", "image axes are oblique to the patient axes; the scan is "
                                                   "resampled to an axial grid for inference"))
    axis = int(np.argmax(np.abs(normal)))
    if axis != 2:
        plane = "sagittal" if axis == 0 else "coronal"
        findings.append(Finding("warn", "non-axial", f"slices are {plane}; the volume is reformatted to axial "
                                                     "slices for inference"))
    return findings


def check_result(labels: np.ndarray, measurements: dict, is_volume: bool,
                 spacing: tuple[float, float, float] | None = None, midline_x: float | None = None) -> list[Finding]:
    """Plausibility of the segmented lungs. ``labels`` is (Z, Y, X) canonical, inferior slice first;
    ``midline_x`` is the body's centre column; ``spacing`` is None when unknown."""
    total = measurements["total"]
    if not total["voxels"]:
        return [Finding("refuse", "no-lungs", "no lung found: the image does not seem to show the chest")]
    if not is_volume or spacing is None:
        refusal = _fraction_check(total, labels.size)
        if refusal or not is_volume:
            return refusal
        return _coverage(labels, None, midline_x)
    extent = len(labels) * spacing[2]
    total_ml = total["volume_ml"]
    least_ml = MIN_LUNG_ML * min(1.0, extent / FULL_EXTENT_MM)
    if total_ml < least_ml:
        return [Finding("refuse", "no-lungs", f"only {total_ml:g} mL of lung found in {extent:g} mm of scan: the scan "
                                              "does not cover the chest")]
    air_like = total.get("percent_below_-950_hu", 0.0)
    if total_ml < AIR_CHECK_ML and air_like > AIR_LIKE_PERCENT and extent >= FULL_EXTENT_MM:
        return [Finding("refuse", "no-lungs", f"the {total_ml:g} mL found is air-like ({air_like:g}% below -950 HU: "
                                              "bowel gas or outside air, not lung tissue): the scan does not "
                                              "cover the chest")]
    if extent < FULL_EXTENT_MM or len(labels) < 3:
        return [Finding("warn", "partial-coverage", f"the scan covers only {extent:g} mm ({len(labels)} slice(s)), "
                                                    "less than the lungs: volumes are partial")]
    return _coverage(labels, spacing, midline_x) + _volumes(measurements)


def _fraction_check(total: dict, voxels: int) -> list[Finding]:
    """Without lengths (a 2D slice, unknown spacing): a few pixels, or a little air-valued "lung" (bowel
    gas), is not a chest image."""
    fraction = total["voxels"] / voxels
    air_like = total.get("percent_below_-950_hu", 0.0)
    if fraction < MIN_SLICE_FRACTION or (fraction < 10 * MIN_SLICE_FRACTION and air_like > AIR_LIKE_PERCENT):
        return [Finding("refuse", "no-lungs", f"only {total['voxels']} lung pixels found ({air_like:g}% below "
                                              "-950 HU): the image does not seem to show the chest")]
    return []


def _coverage(labels: np.ndarray, spacing: tuple[float, float, float] | None, midline_x: float | None) -> list[Finding]:
    """Lung on the first or last slice, away from the midline (the trachea runs through the top slice of
    every complete chest CT, so it must not count)."""
    if len(labels) < 3:
        return []
    pixel_mm2 = spacing[0] * spacing[1] if spacing else 1.0
    x_mm = (np.arange(labels.shape[-1]) - (midline_x if midline_x is not None else labels.shape[-1] / 2)) * (
        spacing[0] if spacing else 1.0)
    lateral = np.abs(x_mm) > TRACHEA_HALF_WIDTH_MM
    ends = {"bottom": labels[0], "top": labels[-1]}
    touching = [name for name, plane in ends.items()
                if np.count_nonzero(plane[:, lateral]) * pixel_mm2 >= END_SLICE_LUNG_MM2]
    if not touching:
        return []
    return [Finding("warn", "partial-coverage", f"lungs reach the {' and '.join(touching)} slice of the scan: "
                                                "part of the lungs is outside it and volumes are partial")]


def _volumes(measurements: dict) -> list[Finding]:
    findings = []
    for side in ("right_lung", "left_lung"):
        volume = measurements[side].get("volume_ml")
        if volume is None:
            continue
        if measurements[side]["voxels"] == 0:
            findings.append(Finding("warn", "missing-lung", f"no {side.replace('_', ' ')} found"))
        elif not PLAUSIBLE_LUNG_ML[0] <= volume <= PLAUSIBLE_LUNG_ML[1]:
            findings.append(Finding("warn", "implausible-volume", f"{side.replace('_', ' ')} volume {volume:g} mL is "
                                    f"outside {PLAUSIBLE_LUNG_ML[0]:g}-{PLAUSIBLE_LUNG_ML[1]:g} mL"))
    total = measurements["total"].get("volume_ml")
    if total is not None and not PLAUSIBLE_TOTAL_ML[0] <= total <= PLAUSIBLE_TOTAL_ML[1]:
        findings.append(Finding("warn", "implausible-volume", f"total lung volume {total:g} mL is outside "
                                f"{PLAUSIBLE_TOTAL_ML[0]:g}-{PLAUSIBLE_TOTAL_ML[1]:g} mL"))
    return findings


def raise_refusals(findings: list[Finding], source: str | Path | None) -> None:
    """Raise ``InputError`` for the first refusal (its message names the file)."""
    for finding in findings:
        if finding.level == "refuse":
            raise InputError(source, finding.message)
