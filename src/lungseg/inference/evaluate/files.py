"""What both evaluations (binary and per class) write: JSON whose non-finite numbers (HD95 of an empty
mask) become null, and the per-sample CSV whose NaN cells stay empty."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence


def json_safe(value):
    """``value`` with every non-finite float replaced by None, through dicts, lists and tuples."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def per_sample_csv(rows: list[dict], columns: Sequence[str]) -> str:
    """The rows as CSV with ``columns`` (other keys ignored); NaN becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {key: ("" if isinstance(value, float) and math.isnan(value) else value) for key, value in row.items()}
        )
    return buffer.getvalue()
