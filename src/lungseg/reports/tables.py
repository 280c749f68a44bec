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
    history = [_numbers(row) for row in _rows(history_path)]
    if not history:
        raise InputError(history_path, "holds no epochs yet")
    batches_path = run / "batch_losses.csv"
    batches = [_numbers(row) for row in _rows(batches_path)] if batches_path.is_file() else []
    config = run / "config.yaml"
    return RunTables(history, batches, config.read_text() if config.is_file() else "")


def read_evaluation(folder: str | Path) -> EvalTables:
    folder = Path(folder)
    metrics_path, samples_path = folder / "metrics.json", folder / "per_sample.csv"
    if not metrics_path.is_file() or not samples_path.is_file():
        raise InputError(folder, "not an evaluation folder (needs metrics.json and per_sample.csv from "
                                 "`lungseg evaluate`)")
    samples = [_numbers(row) for row in _rows(samples_path)]
    for sample in samples:
        for key in ("empty_gt", "empty_prediction"):  # written as 0/1 by the accumulator (True/False before)
            sample[key] = sample.get(key) in (1.0, "True", "true")
    return EvalTables(json.loads(metrics_path.read_text()), samples)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


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
