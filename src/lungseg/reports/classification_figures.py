"""Figures of a classifier's evaluation (matplotlib, Agg backend), each written as a PNG: the confusion
matrix and the reliability diagram (before and, when given, after temperature scaling)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lungseg.metrics.classification import ReliabilityBin
from lungseg.reports.figures import _pyplot, _save


def confusion_matrix_png(path: str | Path, confusion: np.ndarray, class_names: Sequence[str]) -> Path:
    """Counts and row-normalised percentages (share of each true class) per cell, coloured by the
    row-normalised share; rows are the true class, columns the predicted class."""
    matrix = np.asarray(confusion, dtype=np.int64)
    k = len(class_names)
    if matrix.ndim != 2 or matrix.shape != (k, k):
        raise ValueError(f"confusion must have shape ({k}, {k}) for {k} class_names, got {matrix.shape}")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=np.float64), where=totals > 0)
    plt = _pyplot()
    side = max(4.0, 0.9 * k + 2.0)
    figure, axis = plt.subplots(figsize=(side + 1.0, side))
    image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    colorbar = figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    colorbar.set_label("share of the true class")
    fontsize = 9 if k <= 8 else 7
    for row in range(k):
        for column in range(k):
            percent = f"{100 * shares[row, column]:.1f}%" if totals[row, 0] else "–"
            axis.text(
                column,
                row,
                f"{matrix[row, column]}\n{percent}",
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if shares[row, column] > 0.5 else "black",
            )
    axis.set_xticks(range(k))
    axis.set_yticks(range(k))
    axis.set_xticklabels([str(name) for name in class_names], rotation=45, ha="right", rotation_mode="anchor")
    axis.set_yticklabels([str(name) for name in class_names])
    axis.set(xlabel="predicted", ylabel="true", title=f"confusion matrix (n={int(matrix.sum())})")
    return _save(figure, Path(path))


def reliability_png(
    path: str | Path,
    bins_before: Sequence[ReliabilityBin],
    bins_after: Sequence[ReliabilityBin] | None = None,
    ece_before: float | None = None,
    ece_after: float | None = None,
) -> Path:
    """Reliability diagram: accuracy per confidence bin as bars (before calibration), the diagonal of
    perfect calibration, the calibrated accuracies as a line when ``bins_after`` is given, and below it
    the number of samples per bin."""
    if not bins_before:
        raise ValueError("bins_before must hold at least one bin")
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.08}
    )
    lowers, widths, accuracies, counts = _columns(bins_before)
    top.bar(
        lowers,
        accuracies,
        width=widths,
        align="edge",
        color="tab:blue",
        alpha=0.7,
        edgecolor="white",
        label=_label("before calibration", ece_before),
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    bottom.bar(
        lowers, counts, width=widths, align="edge", color="tab:blue", alpha=0.7, edgecolor="white", label="before"
    )
    if bins_after:
        filled = [b for b in bins_after if b.count]
        top.plot(
            [b.mean_confidence for b in filled],
            [b.accuracy for b in filled],
            marker="o",
            markersize=4,
            color="tab:orange",
            label=_label("after temperature scaling", ece_after),
        )
        after_lowers, after_widths, _, after_counts = _columns(bins_after)
        bottom.step(
            np.append(after_lowers, after_lowers[-1] + after_widths[-1]),
            np.append(after_counts, after_counts[-1]),
            where="post",
            color="tab:orange",
            label="after",
        )
        bottom.legend(fontsize=8)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title="reliability diagram")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=9)
    bottom.set(xlabel="confidence (largest probability)", ylabel="count")
    bottom.grid(alpha=0.3)
    return _save(figure, Path(path))


def _columns(bins: Sequence[ReliabilityBin]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lowers = np.array([b.lower for b in bins], dtype=float)
    widths = np.array([b.upper - b.lower for b in bins], dtype=float)
    accuracies = np.array([b.accuracy if b.count else 0.0 for b in bins], dtype=float)
    counts = np.array([b.count for b in bins], dtype=float)
    return lowers, widths, accuracies, counts


def _label(text: str, ece: float | None) -> str:
    return text if ece is None or not math.isfinite(ece) else f"{text} (ECE {ece:.4f})"
