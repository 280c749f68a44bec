"""The history page's query: one's own analyses, found by study label or file name, filtered by model and
verdict, sorted by date, lung volume, quality or verdict, a page at a time.

Label, file name and model are filtered in the database. Verdict and the sort keys other than the date
live in each analysis's JSON summary, so those queries read the user's matching rows and sort in Python
(a person's history is hundreds of rows, not millions).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lungseg.web.models import Analysis, User

SORTS = ("newest", "oldest", "volume", "quality", "verdict")
VERDICTS = ("ok", "check", "none")  # "none": failed, running, or made before verdicts were recorded


@dataclass(frozen=True)
class Page:
    items: list[Analysis]
    number: int
    pages: int
    total: int


@dataclass(frozen=True)
class HistoryQuery:
    """``label``: exactly this study label; ``search``: label or file name contains it (any case);
    ``model``: the model chosen at upload; ``verdict``: one of ``VERDICTS``; ``sort``: one of ``SORTS``
    (volume: largest total lung volume or area first; quality: lowest score first, for review; verdict:
    "check" first)."""

    label: str | None = None
    search: str | None = None
    model: str | None = None
    verdict: str | None = None
    sort: str = "newest"

    def __post_init__(self):
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {self.sort!r}")
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")

    @property
    def in_python(self) -> bool:
        return self.verdict is not None or self.sort not in ("newest", "oldest")


def history(db: Session, user: User, number: int, size: int, query: HistoryQuery = HistoryQuery()) -> Page:
    """Page ``number`` (from 1, clamped) of ``size`` analyses of ``user`` matching ``query``."""
    where = [Analysis.user_id == user.id]
    if query.label:
        where.append(Analysis.study_label == query.label)
    if query.model:
        where.append(Analysis.model == query.model)
    if query.search:
        escaped = query.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        where.append(
            or_(
                func.lower(Analysis.input_name).like(pattern, escape="\\"),
                func.lower(Analysis.study_label).like(pattern, escape="\\"),
            )
        )
    order = Analysis.created_at.asc() if query.sort == "oldest" else Analysis.created_at.desc()
    statement = select(Analysis).where(*where).order_by(order, Analysis.id)
    if query.in_python:
        rows = [a for a in db.scalars(statement) if query.verdict is None or verdict_of(a) == query.verdict]
        rows.sort(key=_sort_key(query.sort))  # stable: ties stay newest first
        total = len(rows)
        pages, number = _pages(total, size, number)
        return Page(rows[(number - 1) * size : number * size], number, pages, total)
    total = db.scalar(select(func.count()).select_from(Analysis).where(*where)) or 0
    pages, number = _pages(total, size, number)
    return Page(list(db.scalars(statement.offset((number - 1) * size).limit(size))), number, pages, total)


def verdict_of(analysis: Analysis) -> str:
    status = ((analysis.summary or {}).get("verdict") or {}).get("status")
    return status if status in ("ok", "check") else "none"


def lung_size(analysis: Analysis) -> float | None:
    """Total lung volume (mL) or area (cm²) of a finished analysis, else None."""
    total = ((analysis.summary or {}).get("measurements") or {}).get("total") or {}
    value = total.get("volume_ml", total.get("area_cm2"))
    return None if value is None else float(value)


def quality_of(analysis: Analysis) -> float | None:
    score = ((analysis.summary or {}).get("quality") or {}).get("score")
    return None if score is None else float(score)


def _sort_key(sort: str):
    def last_if_none(value: float | None, sign: float) -> float:  # analyses without the value go last
        return float("inf") if value is None else sign * value

    if sort == "volume":
        return lambda a: last_if_none(lung_size(a), -1.0)
    if sort == "quality":
        return lambda a: last_if_none(quality_of(a), 1.0)
    if sort == "verdict":
        return lambda a: ("check", "ok", "none").index(verdict_of(a))
    return lambda a: 0  # newest / oldest: the database's order


def _pages(total: int, size: int, number: int) -> tuple[int, int]:
    pages = max(1, -(-total // size))
    return pages, min(max(1, number), pages)
