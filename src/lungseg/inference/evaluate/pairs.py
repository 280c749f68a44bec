"""Scoring a checkpoint against ground-truth masks: ``per_sample.csv`` and ``metrics.json``.

Predictions are made and scored on each image's original pixel grid (not the model grid), at the
predictor's threshold, with HD95 in pixels. ``metrics.json`` has top-level keys ``dice``, ``iou``,
``accuracy``, ``precision``, ``recall``, ``specificity``, ``hd95`` (each ``{mean, median, std}``),
``n`` and ``n_empty_gt``, plus the same statistics for the ``non_empty_gt`` and ``empty_gt`` subsets.
NaN (e.g. HD95 of an empty mask) is written as null and left out of the statistics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lungseg.data import Pair, find_pairs, load_pair, resolve_folders
from lungseg.errors import InputError
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.evaluate.classes import evaluate_classes
from lungseg.inference.evaluate.files import json_safe, per_sample_csv
from lungseg.io import check_folder_target, refuse_overwriting_inputs, staged_writes, write_mask_png
from lungseg.metrics import METRIC_NAMES, MetricAccumulator, segmentation_metrics
from lungseg.model_card import ModelCard

PER_SAMPLE_COLUMNS = ("name", *METRIC_NAMES, "empty_gt", "empty_prediction", "image", "mask", "prediction")


def default_split(card: ModelCard, data, images, split: str | None) -> str | None:
    """``split`` as given; else ``"test"`` when scoring the checkpoint's own data folder (``--data``) and
    the checkpoint stores a split, and every pair (None) for explicit ``--images``/``--masks`` folders."""
    if split is None and data is not None and images is None and card.split is not None:
        return "test"
    return split


def refuse_pseudo_labels(masks: Path) -> None:
    """Masks whose data folder's SOURCE.txt calls them PSEUDO-LABELS (a model's predictions, such as
    covid-infection-pseudo) are training material, never a score's ground truth: ``InputError``."""
    for folder in (Path(masks), *Path(masks).parents[:2]):
        source = folder / "SOURCE.txt"
        if source.is_file() and "MASKS ARE PSEUDO-LABELS" in source.read_text(errors="replace"):
            raise InputError(
                masks,
                f"these masks are PSEUDO-LABELS (a model's predictions, see {source}), not ground truth: "
                "train on them, never score on them",
            )


def select_pairs(
    card: ModelCard, data: str | Path | None, images: str | Path | None, masks: str | Path | None, split: str | None
) -> list[Pair]:
    """All pairs in the folders, or only those of ``split`` (train/val/test/all) of the checkpoint's run."""
    folders = resolve_folders(data, images, masks)
    refuse_pseudo_labels(folders[1])
    pairs = find_pairs(*folders)
    if split is None:
        return pairs
    if card.split is None:
        raise InputError(
            data or images,
            f"this model has no stored split (an ensemble?), so --split {split} "
            "cannot be used; give the folders to score instead",
        )
    names = set(card.split.subset(split))
    chosen = [pair for pair in pairs if pair.name in names]
    if not chosen:
        raise InputError(
            data or images, f"none of the {len(names)} '{split}' samples of this checkpoint's split are in this folder"
        )
    if len(chosen) < len(names):
        raise InputError(data or images, f"{len(names) - len(chosen)} of the '{split}' samples are missing")
    return chosen


def check_evaluation_output(out: str | Path, pairs: list[Pair]) -> Path:
    """``out`` can hold the evaluation and is not (inside) a folder of the scored images or masks."""
    out = check_folder_target(out)
    folders = {pair.image.parent for pair in pairs} | {pair.mask.parent for pair in pairs}
    refuse_overwriting_inputs([out], [p for pair in pairs for p in (pair.image, pair.mask)], sorted(folders))
    return out


def evaluate_pairs(
    predictor: Predictor,
    pairs: list[Pair],
    out: str | Path,
    log: Callable[[str], None] = print,
    mask_labels: Sequence[int] | None = None,
    mask_mapping: str | None = None,
) -> dict:
    """Predict and score every pair; write ``out/per_sample.csv``, ``out/metrics.json`` and each predicted
    mask as ``out/predictions/<name>.png`` (for the report's example grids). Every file is staged and
    renamed into place only once all pairs are scored, so a bad pair leaves an earlier evaluation intact.
    A K-class model is scored per class (``evaluation_classes``; ``mask_mapping`` for pictures of classes)."""
    out = check_evaluation_output(out, pairs)
    if predictor.channels > 1:
        return evaluate_classes(predictor, pairs, out, log, mask_mapping)
    accumulator = MetricAccumulator()
    step = predictor.batch_size
    with staged_writes() as stage:
        for start in range(0, len(pairs), step):
            loaded = [load_pair(pair, mask_labels) for pair in pairs[start : start + step]]
            predictions = predictor.predict(
                [item.image for item in loaded], [p.image for p in pairs[start : start + step]]
            )
            for pair, item, prediction in zip(pairs[start : start + step], loaded, predictions):
                saved = out / "predictions" / f"{item.name}.png"
                write_mask_png(stage.path(saved), prediction)
                row: dict[str, Any] = {  # the scores and the files they came from
                    **segmentation_metrics(prediction, item.mask),
                    "image": str(pair.image.resolve()),
                    "mask": str(pair.mask.resolve()),
                    "prediction": str(saved.resolve()),
                }
                accumulator.add(item.name, row)
        summary = accumulator.summary()
        summary.update(
            {
                "threshold": predictor.threshold,
                "hd95_unit": "pixel",
                "checkpoint": str(predictor.source) if predictor.source else None,
                "model": predictor.card.spec.to_dict(),
                "runs_on": predictor.runs_on,
                "mask_labels": list(mask_labels) if mask_labels else None,
            }
        )
        stage.write_text(out / "per_sample.csv", per_sample_csv(accumulator.rows, PER_SAMPLE_COLUMNS))
        stage.write_text(out / "metrics.json", json.dumps(json_safe(summary), indent=1))
    log(format_summary(summary))
    return summary


def format_summary(summary: dict) -> str:
    parts = [f"n={summary['n']} (empty ground truth: {summary['n_empty_gt']})"]
    for name in METRIC_NAMES:
        stats = summary[name]
        if stats["mean"] is not None:
            parts.append(f"{name} {stats['mean']:.4f} ± {stats['std']:.4f} (median {stats['median']:.4f})")
    return "\n".join(parts)
