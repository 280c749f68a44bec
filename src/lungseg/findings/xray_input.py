"""The catalogue's findings about a chest X-ray input (the X-ray lung model): not a radiograph, the view,
the lung fields' share and symmetry, which side is which and the area scale."""

from __future__ import annotations

from lungseg.findings.kinds import Code, FindingKind, Level

R, W = Level.REFUSE, Level.WARN

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
