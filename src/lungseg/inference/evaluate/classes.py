"""Scoring a K-class model (``Predictor.classes``) on class-map ground truth: per-class metrics with the
empty-mask rule per class (``lungseg.metrics.multiclass``), the mean over foreground classes, one row
per sample and class in ``per_sample.csv``, and each predicted class map as an indexed PNG whose palette
holds the class colours (the indices are the classes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lungseg.data import MaskRule, Pair, load_pair
from lungseg.inference.evaluate.files import json_safe, per_sample_csv
from lungseg.io import staged_writes
from lungseg.io.images2d import write_label_png
from lungseg.labels import CLASS_MAP_COLOURS, UNKNOWN_COLOUR
from lungseg.metrics import METRIC_NAMES, MultiClassAccumulator, per_class_metrics

CLASS_COLUMNS = ("name", "class", *METRIC_NAMES, "empty_gt", "empty_prediction", "image", "mask", "prediction")


def evaluate_classes(
    predictor, pairs: list[Pair], out: Path, log: Callable[[str], None], mask_mapping: str | None = None
) -> dict:
    names = dict(enumerate(predictor.card.class_names, start=1))
    rule = MaskRule(channels=predictor.channels, mapping=mask_mapping)
    accumulator = MultiClassAccumulator(names)
    rows = []
    with staged_writes() as stage:
        for start in range(0, len(pairs), predictor.batch_size):
            chunk = pairs[start : start + predictor.batch_size]
            loaded = [load_pair(pair, rule) for pair in chunk]
            predictions = predictor.classes([item.image for item in loaded], [p.image for p in chunk])
            for pair, item, prediction in zip(chunk, loaded, predictions):
                saved = out / "predictions" / f"{item.name}.png"
                _write_class_png(stage.path(saved), prediction)
                scores = per_class_metrics(prediction, item.mask, list(names))
                accumulator.add(item.name, scores)
                rows += [
                    {
                        "name": item.name,
                        "class": names[c],
                        **scores[c],
                        "image": str(pair.image.resolve()),
                        "mask": str(pair.mask.resolve()),
                        "prediction": str(saved.resolve()),
                    }
                    for c in names
                ]
        summary = {
            **accumulator.summary(),
            "hd95_unit": "pixel",
            "class_names": names,
            "checkpoint": str(predictor.source) if predictor.source else None,
            "model": predictor.card.spec.to_dict(),
            "mask_mapping": mask_mapping,
        }
        stage.write_text(out / "per_sample.csv", per_sample_csv(rows, CLASS_COLUMNS))
        stage.write_text(out / "metrics.json", json.dumps(json_safe(summary), indent=1))
    log(format_classes(summary))
    return summary


def format_classes(summary: dict) -> str:
    lines = [f"n={summary['n']}"]
    for name, section in summary["classes"].items():
        dice = section["dice"]
        if dice["mean"] is not None:
            lines.append(
                f"{name}: dice {dice['mean']:.4f} ± {dice['std']:.4f} (slices without it: "
                f"{section['n_empty_gt']}, false positives there: {section['n_false_positive_on_empty_gt']})"
            )
    mean = summary["mean_foreground"]["dice"]
    if mean is not None:
        lines.append(f"mean over classes: dice {mean:.4f}")
    return "\n".join(lines)


def _write_class_png(path: Path, classes: np.ndarray) -> None:
    colours = {
        index: CLASS_MAP_COLOURS[index] if index < len(CLASS_MAP_COLOURS) else UNKNOWN_COLOUR for index in range(256)
    }
    write_label_png(path, classes.astype(np.uint8), colours)
