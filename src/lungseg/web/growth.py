"""Nodule growth between two analyses of one study label (the web side of ``lungseg nodule compare``).

A nodule measured in the viewer can be compared with a nodule found in another of the user's analyses
that carries the same study label (the user's statement that both are scans of one patient). The volume
change, percentage and volume-doubling time come from ``inference.nodules.growth``, the same formula as
the CLI. The interval between the scans:

- given by the user (days), with which scan is the earlier one; else
- the difference of the two uploads' DICOM dates (StudyDate, SeriesDate, AcquisitionDate) when both were
  de-identified with the label's date shift (``service.date_salt``: one offset per user and label, so
  the interval survives; the offset is in hours, so the difference may be off by one day); the earlier
  date is the older scan; else
- unknown: no doubling time, and the page asks for the interval (NIfTI, NRRD and image uploads carry no
  date the server keeps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lungseg.inference.nodules.growth import dicom_date, growth
from lungseg.web import results
from lungseg.web.models import Analysis, Nodule

LABEL_SHIFT = "study label"  # Analysis.options["date_shift"] of DICOM uploads de-identified per label


@dataclass(frozen=True)
class Measured:
    """One side of a comparison: a found nodule, its analysis and the scan's (shifted) date if any."""

    analysis: Analysis
    nodule: Nodule
    scan_date: date | None
    date_tag: str | None

    @property
    def volume_mm3(self) -> float:
        return float((self.nodule.result or {})["volume_mm3"])


@dataclass(frozen=True)
class Comparison:
    old: Measured
    new: Measured
    growth: dict  # Growth.to_dict()

    def to_dict(self) -> dict:
        """The API's answer: each side's analysis, nodule and de-identified scan date, and the growth."""

        def side(m: Measured) -> dict:
            day = None if m.scan_date is None else m.scan_date.isoformat()
            return {"analysis_id": m.analysis.id, "nodule_id": m.nodule.id, "scan_date": day, "date_tag": m.date_tag}

        return {"earlier": side(self.old), "later": side(self.new), "growth": self.growth}


def found(nodule: Nodule) -> bool:
    return nodule.job is not None and nodule.job.state == "done" and bool((nodule.result or {}).get("found"))


def partners(db: Session, analysis: Analysis, nodule: Nodule) -> list[Nodule]:
    """The found nodules of the user's other analyses with the same study label, newest analysis first
    (none without a label)."""
    if not analysis.study_label:
        return []
    others = db.scalars(
        select(Analysis)
        .where(Analysis.user_id == analysis.user_id, Analysis.study_label == analysis.study_label)
        .where(Analysis.id != analysis.id)
        .order_by(Analysis.created_at.desc())
    )
    return [n for other in others for n in other.nodules if found(n) and n.id != nodule.id]


def measured(results_dir: Path, analysis: Analysis, nodule: Nodule) -> Measured:
    """The nodule with its scan's DICOM date, when the upload is a DICOM series shifted per label."""
    day = None
    if analysis.input_kind == "dicom-series" and (analysis.options or {}).get("date_shift") == LABEL_SHIFT:
        folder = results.analysis_dir(results_dir, analysis.user_id, analysis.id) / "input"
        source = folder / str(analysis.options.get("input", ""))
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        day = dicom_date([p for p in files if p.is_file()][:1])
    return Measured(analysis, nodule, *(day if day else (None, None)))


def compare(first: Measured, second: Measured, interval_days: float | None, first_is_older: bool) -> Comparison:
    """Growth from the older to the newer scan. ``interval_days`` (given by the user) wins, with
    ``first_is_older`` saying the order; else both dates order the scans and give the interval; else the
    order is ``first_is_older`` and the interval unknown. ``ValueError`` for a negative interval."""
    old, new = (first, second) if first_is_older else (second, first)
    if interval_days is not None:
        source = "given by the user"
    elif first.scan_date is not None and second.scan_date is not None:
        old, new = (first, second) if first.scan_date <= second.scan_date else (second, first)
        assert old.scan_date is not None and new.scan_date is not None
        interval_days = float((new.scan_date - old.scan_date).days)
        source = (
            f"DICOM {old.date_tag} {old.scan_date} -> {new.date_tag} {new.scan_date}, both de-identified with this "
            "study label's date shift (the interval is kept; it may be off by one day)"
        )
    else:
        source = "unknown: a scan has no DICOM date shifted with this label; give the interval for a doubling time"
    result = growth(old.volume_mm3, new.volume_mm3, interval_days, source)
    return Comparison(old, new, result.to_dict())


def compare_with(
    db: Session,
    results_dir: Path,
    analysis: Analysis,
    nodule: Nodule,
    other_id: str,
    interval_days: float | None,
    this_is_older: bool,
) -> Comparison:
    """``nodule`` of ``analysis`` against the found nodule ``other_id`` of another analysis with the same
    study label and owner; ``LookupError`` when there is no such nodule (someone else's, not found, or of
    another label: one answer for all)."""
    chosen = next((n for n in partners(db, analysis, nodule) if n.id == other_id), None)
    if chosen is None or not found(nodule):
        raise LookupError(other_id)
    this = measured(results_dir, analysis, nodule)
    that = measured(results_dir, chosen.analysis, chosen)
    return compare(this, that, interval_days, first_is_older=this_is_older)
