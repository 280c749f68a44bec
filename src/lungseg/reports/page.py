"""``lungseg report RUN [--eval EVAL] --out DIR``: an HTML page with the figures of the seed papers.

From the run: loss per epoch (train and validation), Dice/IoU/accuracy per epoch, learning rate, and
histograms of per-batch training and validation loss. From an evaluation (``lungseg evaluate``):
histograms of per-sample Dice and IoU, the best, worst and median three samples (image | ground truth
| prediction | overlay, with name and Dice), and the empty-mask section: how many ground-truth masks
are empty, how many of those got a false-positive prediction, and the metrics with and without the
empty cases (Dice and IoU of an empty prediction on an empty ground truth count as 1.0).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from lungseg.io import check_folder_target, read_image, read_mask, write_text_atomic
from lungseg.preprocessing.display import to_display
from lungseg.reports.classes import class_section
from lungseg.reports.figures import curves, example_grid, histograms
from lungseg.reports.tables import EvalTables, RunTables, read_evaluation, read_run

EXAMPLES_PER_GROUP = 3


def write_report(run: str | Path, out: str | Path, evaluation: str | Path | None = None) -> Path:
    """Write ``out/index.html`` and its PNG figures; returns the page's path."""
    out = check_folder_target(out)
    tables = read_run(run)
    scores = read_evaluation(evaluation) if evaluation is not None else None  # both read before anything is written
    out.mkdir(parents=True, exist_ok=True)
    sections = [f"<h1>lungseg report: {html.escape(str(run))}</h1>", _training_section(tables, out)]
    if scores is not None:
        sections.append(_evaluation_section(scores, out))
    sections.append(f"<h2>Configuration</h2><pre>{html.escape(tables.config_text)}</pre>")
    page = out / "index.html"
    write_text_atomic(page, _HEAD + "\n".join(sections) + "</body></html>\n")
    return page


def _training_section(tables: RunTables, out: Path) -> str:
    history = tables.history
    images = [
        curves(
            history, [("train_loss", "train"), ("val_loss", "validation")], "loss", "Loss per epoch", out / "loss.png"
        ),
        curves(
            history,
            [("val_dice", "Dice"), ("val_iou", "IoU"), ("val_accuracy", "accuracy")],
            "validation metric",
            "Validation metrics per epoch",
            out / "metrics.png",
        ),
        curves(history, [("lr", "learning rate")], "learning rate", "Learning rate", out / "lr.png", log_scale=True),
    ]
    if tables.batch_losses:
        groups = [
            (phase, np.array([row["loss"] for row in tables.batch_losses if row["phase"] == phase]))
            for phase in ("train", "val")
        ]
        images.append(histograms(groups, "batch loss", "Per-batch loss (all epochs)", out / "batch_loss_hist.png"))
    best = min(history, key=lambda row: _finite_or_inf(row.get("val_loss", math.nan)))
    if math.isfinite(best.get("val_loss", math.nan)):
        summary = (
            f"<p>{len(history)} epochs; best validation loss {best['val_loss']:.4f} at epoch "
            f"{int(best['epoch'])} (Dice {best.get('val_dice', math.nan):.4f}, model grid).</p>"
        )
    else:
        summary = f"<p>{len(history)} epochs; the run had no validation set.</p>"
    return "<h2>Training</h2>" + summary + _figures_html(images, out)


def _evaluation_section(evaluation: EvalTables, out: Path) -> str:
    samples = evaluation.samples
    if "classes" in evaluation.metrics:
        table, images = class_section(evaluation.metrics, samples, out)
        return "<h2>Evaluation (per class)</h2>" + table + _figures_html(images, out)
    images = [
        histograms([("Dice", _values(samples, "dice"))], "Dice", "Per-sample Dice", out / "dice_hist.png"),
        histograms([("IoU", _values(samples, "iou"))], "IoU", "Per-sample IoU", out / "iou_hist.png"),
    ]
    ranked = sorted((s for s in samples if math.isfinite(s["dice"])), key=lambda s: s["dice"])
    groups = {
        "best": ranked[::-1][:EXAMPLES_PER_GROUP],
        "worst": ranked[:EXAMPLES_PER_GROUP],
        "median": _middle(ranked, EXAMPLES_PER_GROUP),
    }
    can_show = all("prediction" in s and isinstance(s.get("prediction"), str) for s in ranked)
    if can_show:
        for label, chosen in groups.items():
            images.append(
                example_grid(
                    [_example(s) for s in chosen], f"{label} {len(chosen)} by Dice", out / f"examples_{label}.png"
                )
            )
    note = (
        ""
        if can_show
        else (
            "<p>The evaluation has no saved predictions (made by an older lungseg), "
            "so example grids are left out; rerun <code>lungseg evaluate</code>.</p>"
        )
    )
    return (
        "<h2>Evaluation</h2>"
        + _metrics_table(evaluation.metrics)
        + _empty_section(evaluation.metrics)
        + note
        + _figures_html(images, out)
    )


def _empty_section(metrics: dict) -> str:
    n, empty = metrics["n"], metrics["n_empty_gt"]
    false_positive = metrics.get("n_false_positive_on_empty_gt", 0)
    rows = [
        ("all samples", metrics, n),
        ("non-empty ground truth only", metrics["non_empty_gt"], metrics["non_empty_gt"]["n"]),
        ("empty ground truth only", metrics["empty_gt"], metrics["empty_gt"]["n"]),
    ]
    table = "".join(
        f"<tr><td>{label}</td><td>{count}</td><td>{_mean(section, 'dice')}</td><td>{_mean(section, 'iou')}</td></tr>"
        for label, section, count in rows
    )
    return (
        f"<h3>Empty masks</h3><p>{empty} of {n} ground-truth masks are empty; {false_positive} of those got "
        f"a false-positive prediction. Dice and IoU of an empty prediction on an empty ground truth are "
        f"counted as 1.0 and of any prediction on an empty ground truth as 0.0, so empty cases can move "
        f"the mean a lot; they are shown apart here.</p>"
        f"<table><tr><th>subset</th><th>n</th><th>Dice</th><th>IoU</th></tr>{table}</table>"
    )


def _metrics_table(metrics: dict) -> str:
    names = [
        name for name in ("dice", "iou", "accuracy", "precision", "recall", "specificity", "hd95") if name in metrics
    ]
    rows = "".join(
        f"<tr><td>{name}</td><td>{_fmt(metrics[name]['mean'])}</td><td>{_fmt(metrics[name]['std'])}"
        f"</td><td>{_fmt(metrics[name]['median'])}</td></tr>"
        for name in names
    )
    return f"<table><tr><th>metric</th><th>mean</th><th>sd</th><th>median</th></tr>{rows}</table>"


def _example(sample: dict) -> dict:
    return {
        "name": sample["name"],
        "dice": sample["dice"],
        "image": to_display(read_image(sample["image"])),
        "truth": read_mask(sample["mask"]),
        "prediction": read_mask(sample["prediction"]),
    }


def _middle(ranked: list, count: int) -> list:
    start = max(0, (len(ranked) - count) // 2)
    return ranked[start : start + count]


def _values(samples: list[dict], key: str) -> np.ndarray:
    return np.array([s.get(key, math.nan) for s in samples], dtype=float)


def _finite_or_inf(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _mean(section: dict, key: str) -> str:
    return _fmt(section.get(key, {}).get("mean"))


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.4f}"


def _figures_html(paths: list[Path], out: Path) -> str:
    return "".join(
        f'<figure><img src="{p.relative_to(out)}" alt="{p.stem}"><figcaption>{p.stem}</figcaption></figure>'
        for p in paths
    )


_HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>lungseg report</title><style>
body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}
figure{display:inline-block;margin:.5em;vertical-align:top}img{max-width:100%}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
pre{background:#f6f6f6;padding:.5em;overflow:auto}</style></head><body>
"""
