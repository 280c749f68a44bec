"""The catalogue's findings about the segmented lungs (after inference): no lungs, partial coverage,
implausible volumes, anatomical plausibility per slice and lesion plausibility."""

from __future__ import annotations

from lungseg.findings.kinds import Code, FindingKind, Level

R, W = Level.REFUSE, Level.WARN

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

# Automatic nodule candidates (``inference.lesions.nodule_search``)
NODULE_AERATED = FindingKind(
    Code.LESION_AERATED,
    W,
    "{count} nodule candidate(s) (slices {where}) removed: mostly aerated lung (mean below {hu:g} HU), "
    "which even a ground-glass nodule is not",
)
NODULE_SPACING_ASSUMED = FindingKind(
    Code.NODULE_SPACING_ASSUMED,
    W,
    "no pixel spacing: nodule candidates were searched and measured at an assumed {mm:g} mm per pixel; "
    "their sizes and Lung-RADS categories scale with the true spacing",
)
NODULE_SEARCH_LIMITS = FindingKind(
    Code.NODULE_SEARCH_LIMITS,
    W,
    "automatic nodule candidates are suggestions for a reader, not a screening result: {model}'s search found "
    "{sensitivity} of held-out LIDC nodules (benchmarks/README.md, Lung nodules), so no candidate does not mean "
    "no nodule; point at a nodule to measure it",
)
