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

from lungseg import findings as catalogue
from lungseg.errors import InputError
from lungseg.findings import Finding, Level
from lungseg.inference.core.measure import Measurements, RegionMeasurement
from lungseg.labels import PAIRED_LUNGS
from lungseg.preprocessing import fill_nonfinite, nonfinite_count, stored_hu_offset

XRAY_MODALITIES = {
    "CR": "computed radiography",
    "DX": "digital X-ray",
    "MG": "mammography",
    "XA": "X-ray angiography",
    "RF": "fluoroscopy",
    "PX": "panoramic X-ray",
}
MIN_LUNG_ML = 100.0  # less than this in a volume: no lungs in the scan
PLAUSIBLE_LUNG_ML = (400.0, 5000.0)  # one adult lung at CT (breath-hold or free breathing)
PLAUSIBLE_TOTAL_ML = (1500.0, 9000.0)
AIR_HU = -500.0
AERATED_HU = -300.0  # below this a voxel is aerated lung (solid lesions and soft tissue lie above it)
MIN_SLICE_FRACTION = 0.001  # a chest CT slice shows lungs on far more than 0.1 % of its pixels
AIR_CHECK_ML, AIR_LIKE_PERCENT = 1000.0, 50.0  # little "lung" that is mostly below -950 HU is gas, not lung
TRACHEA_HALF_WIDTH_MM = 30.0  # lung on an end slice counts only this far from the midline
END_SLICE_LUNG_MM2 = 200.0  # 2 cm^2 of lung on the first or last slice: the scan cuts the lungs
FULL_EXTENT_MM = 100.0  # a scan at least this long can hold MIN_LUNG_ML of lung; shorter ones are partial
MAX_NONFINITE_FRACTION = 0.5  # more NaN/inf than this: too little image left to segment
AIR_FILL_HU = -1024.0
MIN_HU_SPAN = 500.0  # a CT slice holds air (-1000 HU) and soft tissue (0..100 HU): its 0.5-99.5 % span is wider


def check_modality(modality: str | None) -> list[Finding]:
    modality = (modality or "").upper()
    if modality in XRAY_MODALITIES:
        return [catalogue.XRAY_MODALITY(modality=modality, kind=XRAY_MODALITIES[modality])]
    if modality and modality != "CT":
        return [catalogue.NOT_CT(modality=modality)]
    return []


def check_finite(array: np.ndarray, expects_hu: bool) -> tuple[np.ndarray, list[Finding]]:
    """NaN/inf values: the array with them filled from the nearest finite pixel of the same slice (a
    slice with none becomes air) and a warning with the count, or a refusal when they are most of it."""
    bad = nonfinite_count(array)
    if not bad:
        return array, []
    share = bad / array.size
    if share > MAX_NONFINITE_FRACTION:
        return array, [catalogue.NON_FINITE_MOSTLY(bad=bad, size=array.size, percent=100 * share)]
    filled = fill_nonfinite(array, AIR_FILL_HU if expects_hu else 0.0)
    return filled, [catalogue.NON_FINITE_FILLED(bad=bad, percent=100 * share)]


def check_intensity(array: np.ndarray, expects_hu: bool, is_volume: bool) -> list[Finding]:
    """HU CT holds air (about -1000 HU) around and inside the chest; pictures and raw values do not. Values
    that span less than ``MIN_HU_SPAN`` with no air, or with nothing denser than aerated lung (air about
    -100 HU, or all of it near -1000), are CT on a compressed Hounsfield scale: a wrong RescaleSlope."""
    if not expects_hu:
        return []
    low, high = float(array.min()), float(array.max())
    integral = np.issubdtype(array.dtype, np.integer) or high > 1.0
    if array.dtype == np.uint8 or (low >= 0 and high <= 255 and integral):
        picture = "an X-ray or screenshot" if not is_volume else "a screenshot or windowed export"
        return [catalogue.NOT_HU_8BIT(picture=picture)]
    sample = array[:, ::4, ::4] if array.ndim == 3 and array.size > 4_000_000 else array
    floor, ceiling = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if ceiling - floor < MIN_HU_SPAN and (low > AIR_HU or high < AERATED_HU):
        return [catalogue.HU_SCALE(low=floor, high=ceiling, span=ceiling - floor, least=MIN_HU_SPAN)]
    if low > AIR_HU:
        offset = stored_hu_offset(array[len(array) // 2]) if array.ndim == 3 else stored_hu_offset(array)
        if offset is not None:
            return [catalogue.NOT_HU_OFFSET(low=low, high=high, offset=offset, air=offset - 1000)]
        return [catalogue.NOT_HU_NO_AIR(air=AIR_HU, low=low, high=high)]
    return []


def check_xray_like(image: np.ndarray) -> list[Finding]:
    """A 2D HU-range image that looks like a radiograph: no air-valued background at all is handled by
    ``check_intensity``; here a tall, large portrait frame typical of chest films."""
    height, width = image.shape[:2]
    if height > 1.15 * width and max(height, width) > 1024:
        return [catalogue.XRAY_LIKE(width=width, height=height)]
    return []


CT_LUNG_RATIO = 0.6  # lung median / median of a 15-px ring around them: chest CT exports <= 0.53
RADIOGRAPH_RATIO = 0.72  # lung/surrounding median gray: CT exports <= 0.61 in any window, X-rays >= 0.80
MIN_PICTURE_LUNG = 0.03  # chest CT slices in the cancer set: enclosed lungs on >= 4 % of the picture
MAX_RAGGEDNESS = 0.45  # boundary band share of the lung fields: chest CT <= 0.36, EM sections >= 0.49


def check_radiograph_picture(picture: np.ndarray, lungs: np.ndarray) -> list[Finding]:
    """An 8-bit slice whose segmented lungs are nearly as bright as a 15-pixel ring of tissue around them
    is a radiograph, not a CT export: in CT the lungs are far darker than soft tissue in every window
    (measured: ratio <= 0.61 for kmader through windows up to W2000, <= 0.53 for the COVID exports;
    0.80..0.95 for the Montgomery chest X-rays)."""
    if lungs.sum() < 100:
        return []
    ratio = lung_ring_ratio(picture, lungs)
    if ratio > RADIOGRAPH_RATIO:
        return [catalogue.RADIOGRAPH_PICTURE(ratio=ratio, limit=RADIOGRAPH_RATIO)]
    return []


def chest_ct_picture(picture: np.ndarray, lungs: np.ndarray) -> list[Finding]:
    """Whether a gray 8-bit picture shows an axial chest CT slice, judged on the lungs the 8-bit CT lung
    model found in it: the one check (and thresholds) of the router (``--model auto``), the CT
    segmenter's 8-bit slices and the cancer-type classifier. Lung fields (``enclosed``: components
    touching the picture's edge are air around the body) must cover ``MIN_PICTURE_LUNG`` of the
    picture; they must be far darker than a ring of tissue around them (``lung_ring_ratio`` over
    ``RADIOGRAPH_RATIO``: a radiograph; over ``CT_LUNG_RATIO``: soft tissue, as in an abdominal slice,
    or an EM section, 0.61-0.67); and they must be smooth fields rather than a texture cut into pieces
    (``raggedness`` over ``MAX_RAGGEDNESS``: EM sections). [] when it looks like a chest CT slice."""
    if picture.dtype != np.uint8:
        return []  # HU input: its own checks (``check_intensity``) judge it
    lungs = enclosed(np.asarray(lungs, bool))
    fraction = float(lungs.mean())
    if fraction < MIN_PICTURE_LUNG:
        return [
            catalogue.NOT_CHEST_CT(
                why=f"lung fields cover {100 * fraction:.1f}% of it, chest CT slices "
                f"at least {100 * MIN_PICTURE_LUNG:.0f}%"
            )
        ]
    ratio = lung_ring_ratio(picture, lungs)
    if ratio > RADIOGRAPH_RATIO:
        return [
            catalogue.NOT_CHEST_CT(
                why="its lung fields are nearly as bright as the tissue around them, as in a radiograph"
            )
        ]
    if ratio > CT_LUNG_RATIO:
        return [
            catalogue.NOT_CHEST_CT(
                why=f"what the lung model found is not much darker than the tissue "
                f"around it (ratio {ratio:.2f}; chest CT lung fields under "
                f"{CT_LUNG_RATIO:.2f}): soft tissue, as in an abdominal slice"
            )
        ]
    ragged = raggedness(lungs)
    if ragged > MAX_RAGGEDNESS:
        return [
            catalogue.NOT_CHEST_CT(
                why=f"what the lung model found is a ragged texture ({100 * ragged:.0f}% "
                f"of it is boundary; chest CT lung fields under "
                f"{100 * MAX_RAGGEDNESS:.0f}%)"
            )
        ]
    return []


def lung_ring_ratio(picture: np.ndarray, lungs: np.ndarray) -> float:
    """Median gray of the lung fields over the median of a 15-pixel ring of tissue around them."""
    from scipy import ndimage

    ring = ndimage.binary_dilation(lungs, iterations=15) & ~lungs
    return float(np.median(picture[lungs])) / max(float(np.median(picture[ring])), 1.0)


def enclosed(mask: np.ndarray) -> np.ndarray:
    """The mask without components that touch the picture's edge: lungs lie inside the body, while dark
    air around a body (or a scan upside down) reaches the edge."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return mask & ~np.isin(labels, edge[edge > 0])


def raggedness(mask: np.ndarray) -> float:
    """Share of a mask's pixels within its boundary band (2 px at a 256-px scale): small for two smooth
    lung fields, large for many small pieces of a texture."""
    from scipy import ndimage

    area = int(mask.sum())
    if not area:
        return 0.0
    width = max(1, round(2 * np.sqrt(mask.size) / 256))
    return float((mask & ~ndimage.binary_erosion(mask, iterations=width)).sum() / area)


def check_orientation(direction: tuple[float, ...]) -> list[Finding]:
    """Direction cosines of a volume (row-major 3x3): oblique axes or a non-axial slice normal."""
    matrix = np.array(direction, dtype=float).reshape(3, 3)
    normal = matrix[:, 2]
    findings = []
    if np.max(np.abs(matrix), axis=0).min() < 0.99:
        findings.append(catalogue.OBLIQUE())
    axis = int(np.argmax(np.abs(normal)))
    if axis != 2:
        plane = "sagittal" if axis == 0 else "coronal"
        findings.append(catalogue.NON_AXIAL(plane=plane))
    return findings


def check_result(
    labels: np.ndarray,
    measurements: Measurements,
    is_volume: bool,
    spacing: tuple[float, float, float] | None = None,
    midline_x: float | None = None,
) -> list[Finding]:
    """Plausibility of the segmented lungs. ``labels`` is (Z, Y, X) canonical, inferior slice first;
    ``midline_x`` is the body's centre column; ``spacing`` is None when unknown."""
    total = measurements.total
    if not total.voxels:
        return [catalogue.NO_LUNGS()]
    if not is_volume or spacing is None:
        refusal = _fraction_check(total, labels.size)
        if refusal or not is_volume:
            return refusal
        return _coverage(labels, None, midline_x)
    extent = len(labels) * spacing[2]
    total_ml = total.volume_ml
    assert total_ml is not None, "a volume measured with its spacing has volume_ml"
    least_ml = MIN_LUNG_ML * min(1.0, extent / FULL_EXTENT_MM)
    if total_ml < least_ml:
        return [catalogue.NO_LUNGS_SHORT(ml=total_ml, extent=extent)]
    air_like = total.percent_below_950_hu or 0.0
    if total_ml < AIR_CHECK_ML and air_like > AIR_LIKE_PERCENT and extent >= FULL_EXTENT_MM:
        return [catalogue.NO_LUNGS_AIR(ml=total_ml, air=air_like)]
    if extent < FULL_EXTENT_MM or len(labels) < 3:
        return [catalogue.PARTIAL_SHORT(extent=extent, slices=len(labels))]
    return _coverage(labels, spacing, midline_x) + _volumes(measurements)


def _fraction_check(total: RegionMeasurement, voxels: int) -> list[Finding]:
    """Without lengths (a 2D slice, unknown spacing): a few pixels, or a little air-valued "lung" (bowel
    gas), is not a chest image."""
    fraction = total.voxels / voxels
    air_like = total.percent_below_950_hu or 0.0
    if fraction < MIN_SLICE_FRACTION or (fraction < 10 * MIN_SLICE_FRACTION and air_like > AIR_LIKE_PERCENT):
        return [catalogue.NO_LUNGS_FEW_PIXELS(pixels=total.voxels, air=air_like)]
    return []


def _coverage(labels: np.ndarray, spacing: tuple[float, float, float] | None, midline_x: float | None) -> list[Finding]:
    """Lung on the first or last slice, away from the midline (the trachea runs through the top slice of
    every complete chest CT, so it must not count)."""
    if len(labels) < 3:
        return []
    pixel_mm2 = spacing[0] * spacing[1] if spacing else 1.0
    x_mm = (np.arange(labels.shape[-1]) - (midline_x if midline_x is not None else labels.shape[-1] / 2)) * (
        spacing[0] if spacing else 1.0
    )
    lateral = np.abs(x_mm) > TRACHEA_HALF_WIDTH_MM
    ends = {"bottom": labels[0], "top": labels[-1]}
    touching = [
        name for name, plane in ends.items() if np.count_nonzero(plane[:, lateral]) * pixel_mm2 >= END_SLICE_LUNG_MM2
    ]
    if not touching:
        return []
    return [catalogue.PARTIAL_ENDS(ends=" and ".join(touching))]


def _volumes(measurements: Measurements) -> list[Finding]:
    """Each lung of a right/left pair within one adult lung's range, and the total within two."""
    findings = []
    for label, region in measurements.regions:
        if label not in PAIRED_LUNGS or region.volume_ml is None:
            continue
        if region.voxels == 0:
            findings.append(catalogue.MISSING_LUNG(structure=label.name))
        elif not PLAUSIBLE_LUNG_ML[0] <= region.volume_ml <= PLAUSIBLE_LUNG_ML[1]:
            findings.append(
                catalogue.IMPLAUSIBLE_VOLUME(
                    structure=label.name, ml=region.volume_ml, low=PLAUSIBLE_LUNG_ML[0], high=PLAUSIBLE_LUNG_ML[1]
                )
            )
    total = measurements.total.volume_ml
    if total is not None and not PLAUSIBLE_TOTAL_ML[0] <= total <= PLAUSIBLE_TOTAL_ML[1]:
        findings.append(
            catalogue.IMPLAUSIBLE_VOLUME(
                structure="total lung", ml=total, low=PLAUSIBLE_TOTAL_ML[0], high=PLAUSIBLE_TOTAL_ML[1]
            )
        )
    return findings


def raise_refusals(findings: list[Finding], source: str | Path | None) -> None:
    """Raise ``InputError`` for the first refusal (its message names the file)."""
    for finding in findings:
        if finding.level == Level.REFUSE:
            raise InputError(source, finding.message)
