"""Every finding lungseg can report, with its code, level and message, in one catalogue.

A ``Finding`` is something a check noticed about an input or a result: ``level`` "refuse" (the input
is unsuitable; the caller raises ``InputError`` with the message), "warn" (results need care) or
"info"; ``code`` is a stable short name for programs (reports, the web app, tests). Checks create
findings only from the catalogue below: ``NOT_CT(modality="MR")``. A code may have several messages
(``no-lungs`` says why no lungs were found), but each message has exactly one code and level.
Adding a finding is one entry here plus the check that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    REFUSE = "refuse"
    WARN = "warn"
    INFO = "info"


class Code(StrEnum):
    XRAY_MODALITY = "xray-modality"
    NOT_CT = "not-ct"
    NON_FINITE = "non-finite"
    NOT_HU = "not-hu"
    XRAY_LIKE = "xray-like"
    OBLIQUE = "oblique"
    NON_AXIAL = "non-axial"
    NO_LUNGS = "no-lungs"
    PARTIAL_COVERAGE = "partial-coverage"
    MISSING_LUNG = "missing-lung"
    IMPLAUSIBLE_VOLUME = "implausible-volume"
    LUNGS_JOINED = "lungs-joined"
    SPACING_UNITS = "spacing-units"
    SPACING_INVALID = "spacing-invalid"
    MIXED_SERIES = "mixed-series"
    LOCALIZERS_SKIPPED = "localizers-skipped"
    DUPLICATE_SLICES = "duplicate-slices"
    MISSING_SLICES = "missing-slices"
    GANTRY_TILT = "gantry-tilt"
    NOT_CHEST_CT = "not-chest-ct"
    MARKS_PAINTED = "marks-painted"
    NOT_RADIOGRAPH = "not-radiograph"
    LATERAL_VIEW = "lateral-view"
    NOT_CHEST_XRAY = "not-chest-xray"
    SIDES = "sides"
    AREA_SCALE = "area-scale"
    MODEL_CHOSEN = "model-chosen"
    ROUTING_UNSURE = "routing-unsure"
    OPTION_NOT_APPLIED = "option-not-applied"
    LESION_AERATED = "lesion-aerated"
    LESION_DENSITY_UNCHECKED = "lesion-density-unchecked"
    LUNG_OUTSIDE_BODY = "lung-outside-body"
    LUNG_SIDE_RATIO = "lung-side-ratio"
    LUNG_NOT_DARK = "lung-not-dark"


# The anatomy is implausible: the quality score is halved (``inference.core.quality``).
IMPLAUSIBLE_ANATOMY = frozenset(
    {Code.MISSING_LUNG, Code.IMPLAUSIBLE_VOLUME, Code.LUNGS_JOINED, Code.NOT_CHEST_XRAY, Code.LATERAL_VIEW}
)


@dataclass(frozen=True)
class Finding:
    level: Level
    code: Code
    message: str
    slices: tuple[int, ...] = ()  # where: the slices it concerns (canonical, inferior first), when per slice

    def __post_init__(self):
        object.__setattr__(self, "level", Level(self.level))  # ValueError for a level outside Level
        object.__setattr__(self, "code", Code(self.code))
        object.__setattr__(self, "slices", tuple(int(z) for z in self.slices))

    def to_dict(self) -> dict:
        values = {"level": str(self.level), "code": str(self.code), "message": self.message}
        return {**values, "slices": list(self.slices)} if self.slices else values

    @classmethod
    def from_dict(cls, values: dict) -> Finding:
        return cls(values["level"], values["code"], values["message"], tuple(values.get("slices", ())))


@dataclass(frozen=True)
class FindingKind:
    """One catalogue entry; calling it with the template's fields makes the ``Finding``."""

    code: Code
    level: Level
    template: str

    def __call__(self, at=(), **values) -> Finding:
        """``at``: the slices the finding concerns (``Finding.slices``); ``values`` fill the template."""
        return Finding(self.level, self.code, self.template.format(**values), tuple(at))


def slice_ranges(slices) -> str:
    """Slice numbers as short ranges for a message: ``3-7, 12``."""
    slices = sorted({int(z) for z in slices})
    runs, start = [], None
    for index, z in enumerate(slices):
        start = z if start is None else start
        if index + 1 == len(slices) or slices[index + 1] != z + 1:
            runs.append(f"{start}" if start == z else f"{start}-{z}")
            start = None
    return ", ".join(runs)


R, W = Level.REFUSE, Level.WARN

# Modality and pixel values (before inference)
XRAY_MODALITY = FindingKind(
    Code.XRAY_MODALITY,
    R,
    "DICOM modality {modality} ({kind}) is a projection X-ray; "
    "this model segments CT slices: use --model xray-lung (or auto)",
)
NOT_CT = FindingKind(Code.NOT_CT, R, "DICOM modality {modality} is not CT; this model segments CT")
NON_FINITE_MOSTLY = FindingKind(
    Code.NON_FINITE, R, "{bad} of {size} values ({percent:.0f}%) are NaN or infinite: too little image to segment"
)
NON_FINITE_FILLED = FindingKind(
    Code.NON_FINITE,
    W,
    "{bad} NaN/infinite value(s) ({percent:.2g}%) were filled from "
    "the nearest finite pixel; results there are unreliable",
)
NOT_HU_8BIT = FindingKind(
    Code.NOT_HU,
    R,
    "pixel values lie within 0..255, so this is an 8-bit picture ({picture}), "
    "not CT in Hounsfield units; give the original DICOM/NIfTI/int16 TIFF",
)
NOT_HU_NO_AIR = FindingKind(
    Code.NOT_HU,
    R,
    "no values below {air:g} (range {low:g}..{high:g}): no air in the image, "
    "so the pixels are not CT in Hounsfield units (an X-ray, or stored values "
    "without RescaleSlope/Intercept)",
)
RADIOGRAPH_PICTURE = FindingKind(
    Code.XRAY_LIKE,
    R,
    "this 8-bit picture looks like a radiograph, not an export of CT "
    "in Hounsfield units: its lung fields are nearly as bright as the "
    "tissue around them (ratio {ratio:.2f}; CT exports stay below "
    "{limit:.2f}); use --model xray-lung (or auto)",
)
XRAY_LIKE = FindingKind(
    Code.XRAY_LIKE, W, "{width}x{height} portrait frame looks like a chest radiograph, not an axial CT slice"
)

# Geometry
OBLIQUE = FindingKind(
    Code.OBLIQUE, W, "image axes are oblique to the patient axes; the scan is resampled to an axial grid for inference"
)
NON_AXIAL = FindingKind(
    Code.NON_AXIAL, W, "slices are {plane}; the volume is reformatted to axial slices for inference"
)
SPACING_UNITS = FindingKind(
    Code.SPACING_UNITS,
    W,
    "header spacing {stored} is implausibly small for CT in mm; it was read as metres: {metres} mm",
)
SPACING_INVALID = FindingKind(
    Code.SPACING_INVALID,
    W,
    "header spacing {stored} mm is invalid for CT ({why}); assumed {assumed} mm, so volumes in mL are not reported",
)
GANTRY_TILT = FindingKind(
    Code.GANTRY_TILT,
    W,
    "gantry tilt of {degrees:.1f} degrees; slices are treated as stacked "
    "along their normal, so geometry is approximate",
)

# DICOM series
MIXED_SERIES_LARGEST = FindingKind(Code.MIXED_SERIES, W, "folder holds {count} series; using the largest, {chosen}")
MIXED_SERIES_PREFERRED = FindingKind(
    Code.MIXED_SERIES, W, "folder holds {count} series; using {chosen}, rather than the largest, {largest}"
)
LOCALIZERS_SKIPPED = FindingKind(Code.LOCALIZERS_SKIPPED, Level.INFO, "skipped {count} localizer/non-image file(s)")
DUPLICATE_SLICES = FindingKind(
    Code.DUPLICATE_SLICES, W, "{count} duplicate slice position(s); kept the first file of each"
)
MISSING_SLICES = FindingKind(
    Code.MISSING_SLICES,
    W,
    "{count} gap(s) larger than 1.5x the slice spacing of {spacing:g} mm (missing slices?); volumes are underestimated",
)

# Classifier input (an 8-bit picture of one axial chest CT slice)
NOT_CHEST_CT = FindingKind(
    Code.NOT_CHEST_CT,
    W,
    "this picture does not look like an axial chest CT slice ({why}); a cancer-type label means nothing for it",
)
MARKS_PAINTED = FindingKind(
    Code.MARKS_PAINTED,
    Level.INFO,
    "coloured marks on {percent:.2g}% of the pixels were painted out before classification",
)

# Radiograph input (the X-ray lung model)
VOLUME_FOR_XRAY = FindingKind(
    Code.NOT_RADIOGRAPH,
    R,
    "a 3D volume ({slices} slices) is not a radiograph; this model "
    "segments chest X-rays: use a CT model (ct-lung) or --model auto",
)
MODALITY_FOR_XRAY = FindingKind(
    Code.NOT_RADIOGRAPH,
    R,
    "DICOM modality {modality} is not a projection radiograph "
    "(CR/DX); this model segments chest X-rays: use --model auto",
)
HU_FOR_XRAY = FindingKind(
    Code.NOT_RADIOGRAPH,
    R,
    "pixel values go down to {low:.0f}, so this is CT in Hounsfield "
    "units, not a radiograph; use a CT model (ct-lung) or --model auto",
)
LATERAL_HEADER = FindingKind(
    Code.LATERAL_VIEW,
    W,
    "ViewPosition {view}: a lateral view; this model was trained on "
    "frontal (PA/AP) films, where the lungs do not overlap",
)
LUNG_FRACTION = FindingKind(
    Code.NOT_CHEST_XRAY,
    W,
    "the lung fields cover {percent:.1f}% of the image (frontal chest "
    "films: {low:g}-{high:g}%): not a frontal chest radiograph, or "
    "the lungs are not fully in the frame",
)
LUNG_ASYMMETRY = FindingKind(
    Code.NOT_CHEST_XRAY,
    W,
    "one lung field is {ratio:.2f} times the other's area (frontal "
    "films: above {limit:g}): a lateral or rotated view, an opaque "
    "or collapsed lung, or not a chest radiograph",
)
SIDES_STANDARD = FindingKind(
    Code.SIDES,
    Level.INFO,
    "right/left are the patient's sides for a frontal film in the "
    "standard display (patient's right on the image's left, as "
    "PA and AP films are shown); a mirrored image swaps them",
)
SIDES_FROM_HEADER = FindingKind(
    Code.SIDES,
    Level.INFO,
    "right/left are the patient's sides from PatientOrientation (columns run towards the patient's {towards})",
)
AREA_AT_DETECTOR = FindingKind(
    Code.AREA_SCALE,
    Level.INFO,
    "areas use ImagerPixelSpacing, measured at the detector: "
    "without a magnification factor they overstate the "
    "patient's by about 20 % (10 % per axis, PA film)",
)
AREA_UNKNOWN = FindingKind(
    Code.AREA_SCALE, Level.INFO, "no pixel spacing in the input: lung areas are given in pixels only"
)
MODEL_CHOSEN = FindingKind(Code.MODEL_CHOSEN, Level.INFO, "model {model} chosen for this input: {why}")
ROUTING_UNSURE = FindingKind(
    Code.ROUTING_UNSURE,
    W,
    "both lung models (or neither) recognise this 8-bit picture, "
    "so {model} was chosen by a rule that can be wrong: for a chest "
    "X-ray choose the chest X-ray model, for a CT slice export the CT "
    "model",
)
OPTION_NOT_APPLIED = FindingKind(Code.OPTION_NOT_APPLIED, W, "option(s) {options} not applied: {why}")

# The segmented lungs (after inference)
NO_LUNGS = FindingKind(Code.NO_LUNGS, R, "no lung found: the image does not seem to show the chest")
NO_LUNGS_SHORT = FindingKind(
    Code.NO_LUNGS, R, "only {ml:g} mL of lung found in {extent:g} mm of scan: the scan does not cover the chest"
)
NO_LUNGS_AIR = FindingKind(
    Code.NO_LUNGS,
    R,
    "the {ml:g} mL found is air-like ({air:g}% below -950 HU: bowel gas or "
    "outside air, not lung tissue): the scan does not cover the chest",
)
NO_LUNGS_FEW_PIXELS = FindingKind(
    Code.NO_LUNGS,
    R,
    "only {pixels} lung pixels found ({air:g}% below -950 HU): the image does not seem to show the chest",
)
PARTIAL_SHORT = FindingKind(
    Code.PARTIAL_COVERAGE,
    W,
    "the scan covers only {extent:g} mm ({slices} slice(s)), less than the lungs: volumes are partial",
)
PARTIAL_ENDS = FindingKind(
    Code.PARTIAL_COVERAGE,
    W,
    "lungs reach the {ends} slice of the scan: part of the lungs is outside it and volumes are partial",
)
MISSING_LUNG = FindingKind(Code.MISSING_LUNG, W, "no {structure} found")
IMPLAUSIBLE_VOLUME = FindingKind(
    Code.IMPLAUSIBLE_VOLUME, W, "{structure} volume {ml:g} mL is outside {low:g}-{high:g} mL"
)
LUNGS_JOINED = FindingKind(
    Code.LUNGS_JOINED, W, "right and left lung could not be separated by erosion; they were split at the body's midline"
)

# Anatomical plausibility of the segmented lungs, per slice (``inference.ct.anatomy``)
LUNG_OUTSIDE_BODY = FindingKind(
    Code.LUNG_OUTSIDE_BODY,
    W,
    "lung drawn outside the body outline on {count} "
    "slice(s) ({where}; up to {percent:.0f}% of that "
    "slice's lung): the model took air or tissue outside "
    "the chest wall for lung",
)
LUNG_SIDE_RATIO = FindingKind(
    Code.LUNG_SIDE_RATIO,
    W,
    "one lung is under {limit:g} times the other's area on "
    "{count} slice(s) through the middle of the chest "
    "({where}; smallest ratio {ratio:.2f}): a lung missed, "
    "collapsed or mislabelled",
)
LUNG_NOT_DARK = FindingKind(
    Code.LUNG_NOT_DARK,
    W,
    "what was drawn as lung is not much darker than the tissue "
    "around it on {count} slice(s) ({where}; {measure}): soft "
    "tissue or bowel taken for lung",
)

# Lesion plausibility (``inference.lesions.density``)
LESION_AERATED = FindingKind(
    Code.LESION_AERATED,
    W,
    "{count} {lesion} component(s) ({amount}, slices {where}) "
    "removed: their voxels are mostly aerated lung ({detail}), "
    "while a solid {lesion} is soft-tissue dense",
)
LESION_DENSITY_UNCHECKED = FindingKind(
    Code.LESION_DENSITY_UNCHECKED,
    W,
    "whether the {lesion} found is soft-tissue dense could not be checked on slice(s) {where}: {why}",
)
