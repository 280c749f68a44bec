"""Every finding lungseg can report, with its code, level and message, in one catalogue.

A ``Finding`` is something a check noticed about an input or a result: ``level`` "refuse" (the input
is unsuitable; the caller raises ``InputError`` with the message), "warn" (results need care) or
"info"; ``code`` is a stable short name for programs (reports, the web app, tests). Checks create
findings only from the catalogue: ``NOT_CT(modality="MR")``. A code may have several messages
(``no-lungs`` says why no lungs were found), but each message has exactly one code and level.
Adding a finding is one entry in the catalogue plus the check that raises it.

The catalogue is split by what the findings are about: ``ct_input``, ``xray_input``, ``routing`` and
``results``, with the types in ``kinds``; every name is importable from ``lungseg.findings``.
"""

from __future__ import annotations

from lungseg.findings.ct_input import (
    DUPLICATE_SLICES,
    GANTRY_TILT,
    HU_OFFSET,
    HU_SCALE,
    LOCALIZERS_SKIPPED,
    MARKS_PAINTED,
    MISSING_SLICES,
    MIXED_SERIES_LARGEST,
    MIXED_SERIES_PREFERRED,
    NON_AXIAL,
    NON_FINITE_FILLED,
    NON_FINITE_MOSTLY,
    NOT_CHEST_CT,
    NOT_CT,
    NOT_HU_8BIT,
    NOT_HU_NO_AIR,
    NOT_HU_OFFSET,
    OBLIQUE,
    RADIOGRAPH_PICTURE,
    SPACING_INVALID,
    SPACING_UNITS,
    XRAY_LIKE,
    XRAY_MODALITY,
)
from lungseg.findings.kinds import IMPLAUSIBLE_ANATOMY, Code, Finding, FindingKind, Level, slice_ranges
from lungseg.findings.results import (
    IMPLAUSIBLE_VOLUME,
    LESION_AERATED,
    LESION_DENSITY_UNCHECKED,
    LUNG_NOT_DARK,
    LUNG_OUTSIDE_BODY,
    LUNG_SIDE_RATIO,
    LUNGS_JOINED,
    MISSING_LUNG,
    NO_LUNGS,
    NO_LUNGS_AIR,
    NO_LUNGS_FEW_PIXELS,
    NO_LUNGS_SHORT,
    NODULE_AERATED,
    NODULE_SPACING_ASSUMED,
    PARTIAL_ENDS,
    PARTIAL_SHORT,
)
from lungseg.findings.routing import MODEL_CHOSEN, OPTION_NOT_APPLIED, ROUTING_UNSURE
from lungseg.findings.xray_input import (
    AREA_AT_DETECTOR,
    AREA_UNKNOWN,
    HU_FOR_XRAY,
    LATERAL_HEADER,
    LUNG_ASYMMETRY,
    LUNG_FRACTION,
    MODALITY_FOR_XRAY,
    SIDES_FROM_HEADER,
    SIDES_STANDARD,
    VOLUME_FOR_XRAY,
)

__all__ = [
    "Code",
    "Finding",
    "FindingKind",
    "IMPLAUSIBLE_ANATOMY",
    "Level",
    "slice_ranges",
    "XRAY_MODALITY",
    "NOT_CT",
    "NON_FINITE_MOSTLY",
    "NON_FINITE_FILLED",
    "NOT_HU_8BIT",
    "NOT_HU_NO_AIR",
    "HU_SCALE",
    "HU_OFFSET",
    "NOT_HU_OFFSET",
    "RADIOGRAPH_PICTURE",
    "XRAY_LIKE",
    "OBLIQUE",
    "NON_AXIAL",
    "SPACING_UNITS",
    "SPACING_INVALID",
    "GANTRY_TILT",
    "MIXED_SERIES_LARGEST",
    "MIXED_SERIES_PREFERRED",
    "LOCALIZERS_SKIPPED",
    "DUPLICATE_SLICES",
    "MISSING_SLICES",
    "NOT_CHEST_CT",
    "MARKS_PAINTED",
    "VOLUME_FOR_XRAY",
    "MODALITY_FOR_XRAY",
    "HU_FOR_XRAY",
    "LATERAL_HEADER",
    "LUNG_FRACTION",
    "LUNG_ASYMMETRY",
    "SIDES_STANDARD",
    "SIDES_FROM_HEADER",
    "AREA_AT_DETECTOR",
    "AREA_UNKNOWN",
    "MODEL_CHOSEN",
    "ROUTING_UNSURE",
    "OPTION_NOT_APPLIED",
    "NO_LUNGS",
    "NO_LUNGS_SHORT",
    "NO_LUNGS_AIR",
    "NO_LUNGS_FEW_PIXELS",
    "PARTIAL_SHORT",
    "PARTIAL_ENDS",
    "MISSING_LUNG",
    "IMPLAUSIBLE_VOLUME",
    "LUNGS_JOINED",
    "LUNG_OUTSIDE_BODY",
    "LUNG_SIDE_RATIO",
    "LUNG_NOT_DARK",
    "LESION_AERATED",
    "LESION_DENSITY_UNCHECKED",
    "NODULE_AERATED",
    "NODULE_SPACING_ASSUMED",
]
