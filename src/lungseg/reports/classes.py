"""The evaluation section of the report for a K-class model: one row per class (with its own empty-mask
counts: slices without the class are scored apart) and the mean over foreground classes, and one
per-sample Dice histogram per class."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from lungseg.reports.figures import histograms


def class_section(metrics: dict, samples: list[dict], out: Path) -> tuple[str, list[Path]]:
    """(HTML table, histogram figure paths) for ``metrics.json``/``per_sample.csv`` of a K-class evaluation."""
    rows = []
    for name, section in metrics["classes"].items():
        present = section["non_empty_gt"]
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{section['n']}</td><td>{section['n_empty_gt']}</td>"
            f"<td>{section['n_false_positive_on_empty_gt']}</td><td>{_fmt(section['dice'])}</td>"
            f"<td>{_fmt(present['dice'])}</td><td>{_fmt(section['iou'])}</td>"
            f"<td>{_fmt(section['recall'])}</td><td>{_fmt(section['precision'])}</td></tr>"
        )
    mean = metrics["mean_foreground"]
    rows.append(
        f"<tr><th>mean over classes</th><td></td><td></td><td></td><td>{_number(mean['dice'])}</td><td></td>"
        f"<td>{_number(mean['iou'])}</td><td>{_number(mean['recall'])}</td>"
        f"<td>{_number(mean['precision'])}</td></tr>"
    )
    table = (
        "<p>Each class is scored on its own (prediction of the class against its ground truth). A slice "
        "without the class counts 1.0 when nothing of it is predicted and 0.0 otherwise; those slices are "
        "counted per class below, and the Dice on slices that show the class is given apart.</p>"
        "<table><tr><th>class</th><th>n</th><th>slices without it</th><th>false positives there</th>"
        "<th>Dice (all)</th><th>Dice (slices with it)</th><th>IoU</th><th>recall</th><th>precision</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    groups = [
        (name, np.array([s["dice"] for s in samples if s.get("class") == name and math.isfinite(s["dice"])]))
        for name in metrics["classes"]
    ]
    return table, [histograms(groups, "Dice", "Per-sample Dice by class", out / "dice_hist.png")]


def _fmt(stats: dict) -> str:
    if stats.get("mean") is None:
        return "n/a"
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
