"""k-fold cross-validation: ``lungseg cv --folds K --data DIR --out OUT [train options]``.

Fold I trains with split ``kfold:K:I`` (grouped by patient when ``group_pattern`` is set, so one
patient's slices stay in one fold) into ``OUT/fold-I`` and is then scored on its own validation fold at
each image's original resolution (``OUT/fold-I/eval-val``, as ``lungseg evaluate``). ``OUT/cv_summary.json``
holds every fold's metrics, their mean +- sd across folds, and the pooled per-sample statistics;
``OUT/ensemble.json`` lists the fold models, so ``--model OUT`` in predict/evaluate runs them as an
ensemble that averages their probabilities. An interrupted cv resumes: finished folds are kept, a
fold with ``last.pt`` but no evaluation is resumed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from lungseg.config import RunConfig
from lungseg.data import find_pairs, resolve_folders
from lungseg.data.audit import duplicate_links
from lungseg.data.splits import linked_groups
from lungseg.errors import InputError
from lungseg.inference import Predictor, evaluate_pairs
from lungseg.inference.core.ensemble import ENSEMBLE_FILE
from lungseg.io import check_folder_target, refuse_overwriting_inputs, write_text_atomic
from lungseg.metrics import METRIC_NAMES
from lungseg.metrics.accumulator import summarize
from lungseg.training import train_run
from lungseg.training.engine import Logger


def cross_validate(config: RunConfig, out: str | Path, folds: int, log: Logger = print, progress_factory=None) -> dict:
    """Train and score ``folds`` fold models; returns (and writes) the summary."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    out = check_folder_target(out)
    images_dir, masks_dir = resolve_folders(config.data.data, config.data.images, config.data.masks)
    pair_list = find_pairs(images_dir, masks_dir)
    refuse_overwriting_inputs(
        [out], [p for pair in pair_list for p in (pair.image, pair.mask)], [images_dir, masks_dir]
    )
    linked = duplicate_links(pair_list) if config.data.group_duplicates else []
    groups = set(linked_groups([pair.name for pair in pair_list], config.data.group_pattern, linked).values())
    if len(groups) < folds:
        raise InputError(
            images_dir, f"{folds} folds need at least {folds} samples (or patient groups); found {len(groups)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    pairs = {pair.name: pair for pair in pair_list}
    results = []
    for fold in range(folds):
        log(f"fold {fold + 1}/{folds}")
        results.append(_run_fold(config, out / f"fold-{fold}", folds, fold, pairs, log, progress_factory))
    summary = summarize_folds(results)
    write_text_atomic(out / "cv_summary.json", json.dumps(summary, indent=1))
    write_text_atomic(
        out / ENSEMBLE_FILE, json.dumps({"members": [f"fold-{i}/best.pt" for i in range(folds)]}, indent=1)
    )
    return summary


def _run_fold(
    config: RunConfig, fold_out: Path, folds: int, fold: int, pairs: dict, log: Logger, progress_factory
) -> dict:
    metrics_file = fold_out / "eval-val" / "metrics.json"
    if metrics_file.is_file():
        log(f"fold {fold}: already done, kept ({metrics_file})")
        return json.loads(metrics_file.read_text())
    if (fold_out / "last.pt").is_file():
        train_run(None, fold_out, resume=True, log=log, progress_factory=progress_factory)
    else:
        fold_config = copy.deepcopy(config)
        fold_config.data.split = f"kfold:{folds}:{fold}"
        train_run(fold_config, fold_out, log=log, progress_factory=progress_factory)
    predictor = Predictor.load(fold_out / "best.pt")
    names = predictor.card.split.val
    return evaluate_pairs(
        predictor,
        [pairs[name] for name in names],
        fold_out / "eval-val",
        log=log,
        mask_labels=config.data.mask_labels,
        mask_mapping=config.data.mask_mapping,
    )


def summarize_folds(results: list[dict]) -> dict:
    """Per metric: the fold means, their mean and sd (population) across folds. For K-class models the
    metric is the mean over foreground classes, and ``per_class`` gives each class's fold means."""
    multiclass = bool(results) and "classes" in results[0]
    across = {name: _across([_fold_mean(r, name) for r in results]) for name in METRIC_NAMES}
    summary = {
        "folds": len(results),
        "n_per_fold": [r["n"] for r in results],
        "across_folds": across,
        "per_fold": results,
    }
    if multiclass:
        summary["per_class"] = {
            cls: {name: _across([r["classes"][cls][name]["mean"] for r in results]) for name in METRIC_NAMES}
            for cls in results[0]["classes"]
        }
    else:
        summary["n_empty_gt_per_fold"] = [r["n_empty_gt"] for r in results]
    return summary


def _fold_mean(result: dict, name: str) -> float | None:
    return result["mean_foreground"][name] if "classes" in result else result[name]["mean"]


def _across(means: list) -> dict:
    means = [m for m in means if m is not None]
    stats = summarize(means)
    return {"mean": stats["mean"], "sd": stats["std"], "folds": means}


def format_cv(summary: dict) -> str:
    lines = [
        f"{summary['folds']}-fold cross-validation, {sum(summary['n_per_fold'])} samples "
        f"(per fold: {', '.join(map(str, summary['n_per_fold']))})"
    ]
    for name, stats in summary["across_folds"].items():
        if stats["mean"] is not None:
            lines.append(
                f"{name:12s} {stats['mean']:.4f} ± {stats['sd']:.4f}   folds: "
                + " ".join(f"{v:.4f}" for v in stats["folds"])
            )
    for cls, metrics in summary.get("per_class", {}).items():
        dice = metrics["dice"]
        if dice["mean"] is not None:
            lines.append(
                f"  {cls}: dice {dice['mean']:.4f} ± {dice['sd']:.4f}   folds: "
                + " ".join(f"{v:.4f}" for v in dice["folds"])
            )
    return "\n".join(lines)
