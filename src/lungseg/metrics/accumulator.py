"""Collect per-sample metrics and summarise them (mean, median, std), empty ground truths apart."""

from __future__ import annotations

import math

import numpy as np

from lungseg.metrics.functional import METRIC_NAMES


def summarize(values: list[float]) -> dict[str, float | None]:
    """Mean, median and population std over the finite values; None where there are none."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"mean": None, "median": None, "std": None}
    return {"mean": float(finite.mean()), "median": float(np.median(finite)), "std": float(finite.std())}


class MetricAccumulator:
    """``add(name, metrics)`` per sample, then ``summary()`` and ``rows`` for a per-sample table."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, name: str, metrics: dict[str, float]) -> None:
        self.rows.append({"name": name, **metrics})

    def __len__(self) -> int:
        return len(self.rows)

    def summary(self) -> dict:
        """Top-level ``{metric: {mean, median, std}}`` over all samples, ``n``, ``n_empty_gt``, and the
        same statistics restricted to ``non_empty_gt`` and ``empty_gt`` samples."""
        empty = [row for row in self.rows if row.get("empty_gt")]
        non_empty = [row for row in self.rows if not row.get("empty_gt")]
        result: dict = _section(self.rows)
        result["n"] = len(self.rows)
        result["n_empty_gt"] = len(empty)
        result["n_false_positive_on_empty_gt"] = sum(1 for row in empty if not row.get("empty_prediction"))
        result["non_empty_gt"] = {**_section(non_empty), "n": len(non_empty)}
        result["empty_gt"] = {**_section(empty), "n": len(empty)}
        return result


def _section(rows: list[dict]) -> dict:
    return {name: summarize([row[name] for row in rows if name in row]) for name in METRIC_NAMES}
