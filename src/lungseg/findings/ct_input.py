"""The catalogue's findings about a CT input, before inference: modality and pixel values, geometry,
DICOM series, and the classifier's 8-bit picture of an axial chest CT slice."""

from __future__ import annotations

from lungseg.findings.kinds import Code, FindingKind, Level

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
HU_SCALE = FindingKind(
    Code.HU_SCALE,
    R,
    "pixel values span only {low:g}..{high:g} HU ({span:.0f} HU; CT from air at -1000 HU to soft tissue "
    "at 0..100 HU spans over {least:.0f}): the Hounsfield scale is compressed or shifted, so "
    "RescaleSlope/RescaleIntercept are wrong (a slope of 0.1 puts air near -100 HU); fix the header or "
    "give the original series",
)
NOT_HU_OFFSET = FindingKind(
    Code.HU_OFFSET,
    R,
    "values {low:g}..{high:g} are not CT in Hounsfield units but look like CT stored with the common "
    "+{offset} offset (air near {air:g}): subtract {offset} (RescaleIntercept -{offset}) or give the original "
    "DICOM series",
)
HU_OFFSET = FindingKind(
    Code.HU_OFFSET,
    W,
    "{dtype} pixel values ({low:g}..{high:g}) are CT stored with the common +{offset} offset (air near "
    "{air:g}); {offset} was subtracted to get Hounsfield units",
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
NOT_CHEST_CT_REFUSED = FindingKind(
    Code.NOT_CHEST_CT,
    R,
    "refused, two independent checks agree: {picture}; and {domain}",
)
RADIOGRAPH_FOR_CLASSIFIER = FindingKind(
    Code.XRAY_LIKE,
    R,
    "refused: this picture is a chest radiograph, not an axial CT slice ({why}); the cancer-type model labels "
    "CT slices only",
)
MARKS_PAINTED = FindingKind(
    Code.MARKS_PAINTED,
    Level.INFO,
    "coloured marks on {percent:.2g}% of the pixels were painted out before classification",
)
