"""One nodule in two scans: its volume in each and the growth between them (``growth``)."""

from __future__ import annotations

from pathlib import Path

from lungseg.errors import InputError
from lungseg.inference.nodules.growth import Growth, growth
from lungseg.inference.nodules.seeded import NoduleResult, NoduleSegmenter
from lungseg.inference.nodules.study import segment_nodules


def compare_scans(
    old: Path,
    new: Path,
    at_old: tuple[float, ...],
    at_new: tuple[float, ...],
    segmenter: NoduleSegmenter,
    interval_days: float | None = None,
) -> tuple[NoduleResult, NoduleResult, Growth]:
    """Segment the nodule in both scans; the interval is ``interval_days`` when given, else the
    difference of the two series' DICOM dates (said in ``Growth.interval_source``), else unknown."""
    first = segment_nodules(old, [at_old], segmenter=segmenter, lung_model=None)
    second = segment_nodules(new, [at_new], segmenter=segmenter, lung_model=None)
    for path, study in ((old, first), (new, second)):
        if not study.nodules[0].found:
            raise InputError(path, f"no nodule at the given point ({study.nodules[0].reason})")
    if interval_days is not None:
        source = "given by the user (--interval-days)"
    else:
        dates = first.study_date(), second.study_date()
        if None in dates:
            source = "unknown: a scan has no DICOM date; give --interval-days for a doubling time"
        else:
            (day_old, tag_old), (day_new, tag_new) = dates
            interval_days = float((day_new - day_old).days)
            source = (
                f"DICOM {tag_old} {day_old} -> {tag_new} {day_new}; de-identified dates are shifted per upload: "
                "only valid when both scans were shifted the same way (or not at all)"
            )
    old_measures, new_measures = first.nodules[0].measures, second.nodules[0].measures
    assert old_measures is not None and new_measures is not None  # a found nodule is measured
    old_volume, new_volume = old_measures.volume_mm3, new_measures.volume_mm3
    return first.nodules[0], second.nodules[0], growth(old_volume, new_volume, interval_days, source)
