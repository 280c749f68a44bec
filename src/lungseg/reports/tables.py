"""Read what a run folder and an evaluation folder hold, for the report.

Run folder (``lungseg train``): ``history.csv``, ``batch_losses.csv``, ``config.yaml``. Evaluation folder
(``lungseg evaluate``): ``metrics.json`` and ``per_sample.csv`` (with the image, mask and saved
prediction path of every sample).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from lungseg.errors import InputError


@dataclass
class RunTables:
    history: list[dict]
    batch_losses: list[dict]
    config_text: str


@dataclass
class EvalTables:
    metrics: dict
    samples: list[dict] = field(default_factory=list)


def read_run(run: str | Path) -> RunTables:
    run = Path(run)
    history_path = run / "history.csv"
    if not history_path.is_file():
        raise InputError(run, "not a run folder (no history.csv); give the --out folder of `lungseg train`")
    history = _numeric_table(history_path, HISTORY_COLUMNS, HISTORY_PLOTTED)
    if not history:
        raise InputError(history_path, "holds no epochs yet")
    batches_path = run / "batch_losses.csv"
    batches = _numeric_table(batches_path, ("loss",)) if batches_path.is_file() else []
    config = run / "config.yaml"
    return RunTables(history, batches, config.read_text() if config.is_file() else "")


def read_evaluation(folder: str | Path) -> EvalTables:
    folder = Path(folder)
    metrics_path, samples_path = folder / "metrics.json", folder / "per_sample.csv"
    if not metrics_path.is_file() or not samples_path.is_file():
        raise InputError(
            folder, "not an evaluation folder (needs metrics.json and per_sample.csv from `lungseg evaluate`)"
        )
    samples = _numeric_table(samples_path, ("name",), SAMPLE_NUMBERS)
    for sample in samples:
        for key in ("empty_gt", "empty_prediction"):  # written as 0/1 by the accumulator (True/False before)
            sample[key] = sample.get(key) in (1.0, "True", "true")
    try:
        metrics = json.loads(metrics_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(metrics_path, f"is not JSON ({exc}); write it again with `lungseg evaluate`") from exc
    if not isinstance(metrics, dict) or "n" not in metrics:
        raise InputError(
            metrics_path, "is not the metrics.json of `lungseg evaluate` (an object with 'n' and the metric means)"
        )
    problem = _metrics_problem(metrics)
    if problem:
        raise InputError(metrics_path, f"is not the metrics.json of `lungseg evaluate`: {problem}")
    return EvalTables(metrics, samples)


HISTORY_COLUMNS = ("epoch", "train_loss")  # what the report's curves need of every history.csv
HISTORY_PLOTTED = ("val_loss", "val_dice", "val_iou", "val_accuracy", "lr")  # drawn when present: numbers
SAMPLE_NUMBERS = ("dice", "iou")  # per_sample.csv columns the histograms and examples use
METRIC_NAMES = ("dice", "iou", "accuracy", "precision", "recall", "specificity", "hd95")
STATISTICS = ("mean", "std", "median")


def _metrics_problem(metrics: dict) -> str | None:
    """What in a metrics.json the report cannot read (the layout ``lungseg evaluate`` writes), or None."""
    if not _is_number(metrics["n"]):
        return f"'n' is {metrics['n']!r}, not a count"
    if "classes" in metrics:  # a K-class evaluation: per-class sections and the mean over classes
        if not isinstance(metrics["classes"], dict) or not isinstance(metrics.get("mean_foreground"), dict):
            return "'classes' and 'mean_foreground' must be objects"
        return None
    for name in METRIC_NAMES:
        if name in metrics and not _is_statistics(metrics[name]):
            return f"'{name}' is {_short(metrics[name])}, not an object with {', '.join(STATISTICS)}"
    if not _is_number(metrics.get("n_empty_gt")):
        return "'n_empty_gt' is missing or not a count"
    for section in ("non_empty_gt", "empty_gt"):
        values = metrics.get(section)
        if not isinstance(values, dict) or not _is_number(values.get("n")):
            return f"'{section}' is missing or has no count 'n'"
        bad = [name for name in METRIC_NAMES if name in values and not _is_statistics(values[name])]
        if bad:
            return f"'{section}.{bad[0]}' is {_short(values[bad[0]])}, not an object with {', '.join(STATISTICS)}"
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_statistics(value) -> bool:
    return isinstance(value, dict) and all(value.get(key) is None or _is_number(value.get(key)) for key in STATISTICS)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _rows(path: Path, needed: tuple[str, ...] = ()) -> list[dict]:
    """The rows of a CSV file; a file that is not text or lacks a ``needed`` column is refused naming it."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"is not a CSV table ({exc})") from exc
    missing = [name for name in needed if name not in columns]
    if missing:
        raise InputError(
            path,
            f"lacks the column(s) {', '.join(missing)} (has: {', '.join(columns) or 'none'}); "
            "it was not written by lungseg",
        )
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():  # more or fewer fields than the header names
            missing_fields = sum(value is None for key, value in row.items() if key is not None)
            fields = len(columns) + len(row.get(None) or ()) - missing_fields
            raise InputError(
                path, f"line {number} has {fields} field(s) but the header names {len(columns)}; a damaged table"
            )
    return rows


def _numeric_table(path: Path, needed: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[dict]:
    """``_rows`` with numbers converted; a ``needed`` column, or an ``optional`` one that is present, holding
    text is refused naming the row and column (other columns, a tool's own additions, are left alone)."""
    rows = [_numbers(row) for row in _rows(path, needed)]
    for number, row in enumerate(rows, start=2):
        bad = [name for name in needed + optional if name not in TEXT_COLUMNS and isinstance(row.get(name), str)]
        if bad:
            raise InputError(path, f"line {number}: column {bad[0]} is not a number ({row[bad[0]]!r})")
    return rows


TEXT_COLUMNS = ("name", "class", "image", "mask", "prediction", "phase")


def _numbers(row: dict) -> dict:
    """CSV strings -> floats where they are numbers ('' -> NaN); names, paths and phases stay text."""
    converted = {}
    for key, text in row.items():
        if key in TEXT_COLUMNS:
            converted[key] = text
            continue
        if text == "":
            converted[key] = math.nan
            continue
        try:
            converted[key] = float(text)
        except (TypeError, ValueError):
            converted[key] = text
    return converted
