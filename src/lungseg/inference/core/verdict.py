"""The trust verdict on a segmentation result, decided in one place (``trust_verdict``):

- ``refused``: the input was refused (a refusal finding; the caller raised ``InputError``, so no result
  is shown as a result): ``refused_verdict(message)`` for the CLI's and the web app's failure rows;
- ``check``: a person must look: every warning finding (input checks, anatomical plausibility per slice,
  lesion plausibility, ...), a quality score below ``screening.QUALITY_FLAG`` (never ``ok``), and the
  large slices whose own flip agreement is below it; each reason says what and, where known, the
  slices (canonical numbers, inferior first, as in the report's ``quality.per_slice``);
- ``ok``: none of these. Only then do reports and pages say "no problems".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lungseg.findings import Finding, Level, slice_ranges

OK, CHECK, REFUSED = "ok", "check", "refused"


@dataclass(frozen=True)
class Reason:
    """Why a result needs a look: a finding's or the quality's ``code``, a ``message`` and the slices."""

    code: str
    message: str
    slices: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        values = {"code": self.code, "message": self.message}
        return {**values, "slices": list(self.slices)} if self.slices else values


@dataclass(frozen=True)
class Verdict:
    """``status``: ``ok``, ``check`` or ``refused``; ``reasons``: empty exactly when ``ok``."""

    status: str
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict:
        return {"status": self.status, "reasons": [reason.to_dict() for reason in self.reasons]}

    @classmethod
    def from_dict(cls, values: dict) -> Verdict:
        reasons = values.get("reasons", ())
        return cls(
            values["status"], tuple(Reason(r["code"], r["message"], tuple(r.get("slices", ()))) for r in reasons)
        )

    def line(self) -> str:
        """One line for a summary: ``verdict ok: no problems found`` or the reasons."""
        if self.status == OK:
            return "verdict ok: no problems found by the automatic checks"
        return f"verdict {self.status}: " + "; ".join(reason.message for reason in self.reasons)


def trust_verdict(findings: Iterable[Finding], quality) -> Verdict:
    """``findings`` of a result and its ``inference.core.quality.Quality`` -> the verdict (module docstring)."""
    findings = list(findings)
    refusals = [f for f in findings if f.level == Level.REFUSE]
    if refusals:
        return Verdict(REFUSED, tuple(Reason(str(f.code), f.message, f.slices) for f in refusals))
    reasons = [Reason(str(f.code), f.message, f.slices) for f in findings if f.level == Level.WARN]
    if quality.flagged:
        reasons.insert(
            0,
            Reason(
                "low-quality",
                f"quality score {quality.score:.2f} is below {quality.threshold:.2f}"
                + ("" if quality.plausible else " (halved: implausible anatomy)"),
                tuple(quality.flagged_slices),
            ),
        )
    elif quality.flagged_slices:
        reasons.insert(
            0,
            Reason(
                "unstable-slices",
                f"the mirrored pass disagrees (agreement below "
                f"{quality.threshold:.2f}) on slice(s) "
                f"{slice_ranges(quality.flagged_slices)}",
                tuple(quality.flagged_slices),
            ),
        )
    return Verdict(CHECK, tuple(reasons)) if reasons else Verdict(OK)


def refused_verdict(message: str) -> Verdict:
    """The verdict of an input that was refused with ``message`` (no result)."""
    return Verdict(REFUSED, (Reason("refused", message),))
