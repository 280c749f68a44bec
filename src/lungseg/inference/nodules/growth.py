"""Nodule growth between two scans: volume change, percentage and volume-doubling time.

VDT = interval * ln 2 / ln(V_new / V_old) (days; Schwartz's exponential model). The interval comes from
the two series' DICOM dates (StudyDate, else SeriesDate, else AcquisitionDate) or is given by the user.
De-identification shifts dates by an offset per upload: dates of two uploads are only comparable when
both were shifted the same way (or not at all), so the caller states where the interval came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DATE_TAGS = ("StudyDate", "SeriesDate", "AcquisitionDate")


@dataclass(frozen=True)
class Growth:
    """``interval_days`` None: no interval known (no VDT); ``vdt_days`` None when the volume did not
    grow (``trend`` says stable/shrinking) or no interval is known."""

    old_mm3: float
    new_mm3: float
    interval_days: float | None
    interval_source: str

    @property
    def change_mm3(self) -> float:
        return self.new_mm3 - self.old_mm3

    @property
    def change_percent(self) -> float:
        return 100.0 * self.change_mm3 / self.old_mm3

    @property
    def trend(self) -> str:
        if abs(self.change_percent) < 25.0:  # within the usual volumetry repeatability (about +-25 %)
            return "stable (change within the +-25 % repeatability of volumetry)"
        return "growing" if self.change_mm3 > 0 else "shrinking"

    @property
    def vdt_days(self) -> float | None:
        if self.interval_days is None or self.interval_days <= 0 or self.new_mm3 <= self.old_mm3:
            return None
        return self.interval_days * math.log(2) / math.log(self.new_mm3 / self.old_mm3)

    def to_dict(self) -> dict:
        vdt = self.vdt_days
        return {
            "old_volume_mm3": round(self.old_mm3, 1),
            "new_volume_mm3": round(self.new_mm3, 1),
            "change_mm3": round(self.change_mm3, 1),
            "change_percent": round(self.change_percent, 1),
            "trend": self.trend,
            "interval_days": self.interval_days,
            "interval_source": self.interval_source,
            "volume_doubling_time_days": None if vdt is None else round(vdt, 0),
        }


def growth(old_mm3: float, new_mm3: float, interval_days: float | None, source: str) -> Growth:
    if old_mm3 <= 0 or new_mm3 <= 0:
        raise ValueError(f"both volumes must be positive, got {old_mm3} and {new_mm3} mm³")
    if interval_days is not None and interval_days < 0:
        raise ValueError(f"interval_days must not be negative, got {interval_days}")
    return Growth(old_mm3, new_mm3, interval_days, source)


def dicom_date(files: list[Path]) -> tuple[date, str] | None:
    """The series' date and the tag it came from, read from its first file; None without one."""
    if not files:
        return None
    import pydicom  # deferred: only the compare command reads dates

    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    for tag in DATE_TAGS:
        text = str(getattr(header, tag, "") or "")
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:])), tag
    return None
