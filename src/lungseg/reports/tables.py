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
    history = _numeric_table(history_path, HISTORY_COLUMNS)
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
    samples = [_numbers(row) for row in _rows(samples_path, ("name",))]
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
    return EvalTables(metrics, samples)


HISTORY_COLUMNS = ("epoch", "train_loss")  # what the report's curves need of every history.csv


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
    return rows


def _numeric_table(path: Path, needed: tuple[str, ...]) -> list[dict]:
    """``_rows`` with numbers converted; a ``needed`` column holding text is refused naming the row."""
    rows = [_numbers(row) for row in _rows(path, needed)]
    for number, row in enumerate(rows, start=2):
        bad = [name for name in needed if isinstance(row[name], str)]
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
