"""Voxel spacing from a file header, checked before anything is measured with it.

A CT's in-plane spacing lies within ``IN_PLANE_MM`` and its slice spacing within ``SLICE_MM``.
- All values in range: used as they are.
- All values in range once multiplied by 1000: the header is in metres; they are read as millimetres
  (warning ``spacing-units``).
- Otherwise (zero, negative, NaN, absurd): each bad value is replaced, the other in-plane value or
  ``ASSUMED_IN_PLANE_MM`` in plane, the slice-thickness hint or the in-plane value through plane
  (warning ``spacing-invalid``). Shapes and labels are still right, but lengths are not known, so
  volumes in mL are not reported for such a scan (``known`` is False).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lungseg import findings as catalogue
from lungseg.findings import Finding

IN_PLANE_MM = (0.05, 5.0)
SLICE_MM = (0.05, 50.0)
ASSUMED_IN_PLANE_MM = 0.75


@dataclass(frozen=True)
class CheckedSpacing:
    spacing: tuple[float, float, float]  # (x, y, z) in mm, always usable
    known: bool  # False when any value had to be assumed
    findings: tuple[Finding, ...] = ()


def check_spacing(stored: Sequence[float], slice_hint: float | None = None) -> CheckedSpacing:
    """``stored``: (x, y, z) spacing as the header states it; ``slice_hint``: e.g. DICOM SliceThickness."""
    values = tuple(float(v) for v in stored)
    if _plausible(values):
        return CheckedSpacing(values, True)
    metres = tuple(v * 1000.0 for v in values)
    if _plausible(metres):
        return CheckedSpacing(metres, True, (catalogue.SPACING_UNITS(stored=_shown(values), metres=_shown(metres)),))
    x, y, z = values
    in_plane = next((v for v in (x, y) if _within(v, IN_PLANE_MM)), ASSUMED_IN_PLANE_MM)
    fixed = (
        x if _within(x, IN_PLANE_MM) else in_plane,
        y if _within(y, IN_PLANE_MM) else in_plane,
        z if _within(z, SLICE_MM) else slice_hint if slice_hint and _within(slice_hint, SLICE_MM) else in_plane,
    )
    return CheckedSpacing(
        fixed, False, (catalogue.SPACING_INVALID(stored=_shown(values), why=_why(values), assumed=_shown(fixed)),)
    )


def _plausible(values: tuple[float, float, float]) -> bool:
    return _within(values[0], IN_PLANE_MM) and _within(values[1], IN_PLANE_MM) and _within(values[2], SLICE_MM)


def _within(value: float, bounds: tuple[float, float]) -> bool:
    return math.isfinite(value) and bounds[0] <= value <= bounds[1]


def _why(values: tuple[float, ...]) -> str:
    if any(not math.isfinite(v) for v in values):
        return "not a number"
    if any(v <= 0 for v in values):
        return "zero or negative"
    in_plane, between = f"{IN_PLANE_MM[0]:g}-{IN_PLANE_MM[1]:g}", f"{SLICE_MM[0]:g}-{SLICE_MM[1]:g}"
    return f"outside {in_plane} mm in plane or {between} mm between slices"


def _shown(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
