"""The report's figures (matplotlib, Agg backend), each written as a PNG.

Curves per epoch (loss, Dice/IoU/accuracy, learning rate), histograms of per-batch losses and of
per-sample Dice/IoU, and example grids (image | ground truth | prediction | overlay).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lungseg.io import atomic_path
from lungseg.preprocessing.display import comparison_overlay


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _save(figure, path: Path) -> Path:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    return path


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([row.get(key, math.nan) for row in rows], dtype=float)


def curves(
    history: list[dict], series: list[tuple[str, str]], ylabel: str, title: str, path: Path, log_scale: bool = False
) -> Path:
    """One line per (column, label) over epochs; NaN values (no validation set) are left out."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.6))
    epochs = _column(history, "epoch")
    for key, label in series:
        values = _column(history, key)
        if np.isfinite(values).any():
            axis.plot(epochs, values, marker="o", markersize=3, label=label)
    axis.set(xlabel="epoch", ylabel=ylabel, title=title)
    axis.xaxis.set_major_locator(_integer_ticks())
    if log_scale:
        axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(figure, path)


def histograms(groups: list[tuple[str, np.ndarray]], xlabel: str, title: str, path: Path, bins: int = 30) -> Path:
    """Overlaid histograms of finite values, one per (label, values)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.6))
    for label, values in groups:
        finite = values[np.isfinite(values)]
        if finite.size:
            axis.hist(finite, bins=bins, alpha=0.6, label=f"{label} (n={finite.size})")
    axis.set(xlabel=xlabel, ylabel="count", title=title)
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(figure, path)


def example_grid(examples: list[dict], title: str, path: Path) -> Path:
    """Rows of image | ground truth | prediction | overlay; each example is a dict with ``name``,
    ``dice``, ``image`` (uint8 display gray, ``preprocessing.display.to_display``), ``truth`` and
    ``prediction`` (bool)."""
    plt = _pyplot()
    figure, axes = plt.subplots(len(examples), 4, figsize=(11, 2.9 * len(examples)), squeeze=False)
    for row, example in zip(axes, examples):
        thickness = max(1, example["truth"].shape[0] // 256)
        panels = (
            example["image"] / 255.0,
            example["truth"],
            example["prediction"],
            comparison_overlay(example["image"], example["truth"], example["prediction"], thickness),
        )
        labels = (
            f"{example['name']}\nDice {example['dice']:.4f}",
            "ground truth",
            "prediction",
            "overlay (truth green, prediction red)",
        )
        for axis, panel, label in zip(row, panels, labels):
            axis.imshow(panel, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axis.set_title(label, fontsize=9)
            axis.axis("off")
    figure.suptitle(title)
    return _save(figure, path)
