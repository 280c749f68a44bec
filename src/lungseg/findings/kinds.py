"""What a finding is: its ``Level``, its ``Code`` (the stable short names), the ``Finding`` a check reports
and the ``FindingKind`` catalogue entries that make them."""

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
    HU_SCALE = "hu-scale"
    HU_OFFSET = "hu-offset"
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
    NODULE_SPACING_ASSUMED = "nodule-spacing-assumed"
    NODULE_SEARCH_LIMITS = "nodule-search-limits"
    LUNG_OUTSIDE_BODY = "lung-outside-body"
    LUNG_SIDE_RATIO = "lung-side-ratio"
    LUNG_NOT_DARK = "lung-not-dark"
    OUT_OF_DOMAIN = "out-of-domain"


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
