"""Cancer-type classifier candidates compared by grouped, stratified k-fold cross-validation.

    .venv/bin/python benchmarks/classifier_cv.py [--folds 4] [--only NAME ...] [--epochs N]

The set is ../shared/data/chest-ct-cancer, train and valid folders pooled, copies of one slice grouped
(identical files and local-feature matches, ``data.slice_groups``) and label-conflicting groups left out.
Fold I of every candidate is the same: ``kfold:K:I`` of the same seeded, class-stratified group split.
Each fold trains ``lungseg classify train``'s run (``training.classify_run``) on the other folds and
scores one picture per distinct slice of fold I (``inference.classify.evaluation``). The run's
temperature is fitted on fold I itself (its validation set), so the ECE after calibration is reported
cross-fitted: each half of fold I with the temperature fitted on the other half. A fold folder that
holds a run of the same config (a pilot, an interrupted run) is resumed, not retrained. No ImageNet weights
(this machine cannot download them): candidates differ in network, input size and initialisation.
Prints mean ± sd over folds and writes benchmarks/results/classifier_cv.json (merged by candidate).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "chest-ct-cancer"
RESULTS = Path(__file__).resolve().parent / "results" / "classifier_cv.json"

HEAVY = {
    "augment.rotate_degrees": 10.0,
    "augment.scale": 0.15,
    "augment.shift": 0.08,
    "augment.brightness_contrast": 0.25,
    "augment.noise_p": 0.2,
    "train.label_smoothing": 0.1,
    "model.kwargs": {"drop_rate": 0.2},
    "train.ema_decay": None,
    "train.early_stopping_patience": 10,
}
CANDIDATES = {  # settings on top of config.classifier_defaults() (ResNet-18, 128 px, light augmentation)
    "resnet18-128-heavy-aug": {**HEAVY, "train.epochs": 30},
    "resnet18-128": {},
    "resnet18-lungs-128": {"preprocess.field_of_view": "lungs"},
    "unet-encoder-ctlung-128": {
        "model.name": "unet-encoder-classifier",
        "train.init_from": "ct-lung",
        "train.freeze_encoder_epochs": 2,
    },
    "resnet18-192": {"preprocess.image_size": 192},
    "efficientnet-b0-128": {"model.name": "efficientnet-b0-classifier"},
    "recipe": "recipes/ct-cancer-type.yaml",  # the shipped model's recipe (tools/release_weights.py)
    "1-nn-thumbnails": "nearest neighbour",  # no network: the closest training picture at 48x48 decides
}


def config_for(name: str, fold: int, folds: int, epochs: int | None):
    from lungseg.config import classifier_defaults, merge_config

    recipe = CANDIDATES[name] if isinstance(CANDIDATES[name], str) else None
    settings = {
        **({} if recipe else CANDIDATES[name]),
        "data.data": str(DATA.resolve()),
        "data.split": f"kfold:{folds}:{fold}",
    }
    if epochs:
        settings["train.epochs"] = epochs
    kwargs = settings.pop("model.kwargs", None)
    no_ema = "train.ema_decay" in settings and settings.pop("train.ema_decay") is None
    config = merge_config(
        Path(__file__).resolve().parents[1] / recipe if recipe else None,
        settings,
        kwargs,
        defaults=classifier_defaults(),
    )
    if no_ema:  # merge_config reads None as "not given"
        config.train.ema_decay = None
    return config


def nearest_neighbour_folds(folds: int) -> list[dict]:
    """A baseline without a network: each validation slice takes the class of the training picture
    closest to it (Euclidean distance of 48x48 thumbnails, each standardised), on the same folds."""
    from PIL import Image

    from lungseg.config import classifier_defaults
    from lungseg.data.class_dataset import representatives
    from lungseg.metrics import classification_metrics
    from lungseg.training.classify_run import prepare_class_inputs

    config = classifier_defaults()
    config.data.data = str(DATA.resolve())
    config.model.class_names = sorted({p.parent.name for p in DATA.glob("*/*/*")})
    rows = []
    for fold in range(folds):
        config.data.split = f"kfold:{folds}:{fold}"
        inputs = prepare_class_inputs(config, None, lambda line: None)

        def thumbnail(name: str, inputs=inputs) -> np.ndarray:
            small = np.asarray(Image.fromarray(inputs.pictures[name]).resize((48, 48), Image.BILINEAR), np.float32)
            return ((small - small.mean()) / (small.std() + 1e-6)).ravel()

        train = inputs.split.train
        bank, labels = np.stack([thumbnail(n) for n in train]), np.array([inputs.labels[n] for n in train])
        val = representatives(inputs.split.val, inputs.groups.group_of)
        predicted = np.array([labels[np.argmin(((bank - thumbnail(n)) ** 2).sum(1))] for n in val])
        truth = np.array([inputs.labels[n] for n in val])
        scores = classification_metrics(truth, predicted, config.model.class_names)
        rows.append(
            {
                "fold": fold,
                "slices": len(val),
                "accuracy": scores.accuracy,
                "balanced_accuracy": scores.balanced_accuracy,
                "macro_f1": scores.macro_f1,
                "minutes": 0.0,
                "recall": {k: v.recall for k, v in scores.per_class.items()},
            }
        )
        print(f"1-nn fold {fold}: acc {scores.accuracy:.3f} bal {scores.balanced_accuracy:.3f}", flush=True)
    return rows


def run_candidate(name: str, folds: int, epochs: int | None, runs: Path, only_fold: int | None = None) -> dict:
    from lungseg.inference.classify.evaluation import evaluate_classifier
    from lungseg.training.classify_run import train_classifier

    if CANDIDATES[name] == "nearest neighbour":
        rows = nearest_neighbour_folds(folds)
        return {
            "settings": CANDIDATES[name],
            "folds": rows,
            "mean_sd": {
                key: [float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows]))]
                for key in ("accuracy", "balanced_accuracy", "macro_f1")
            },
        }
    rows = []
    for fold in range(folds) if only_fold is None else [only_fold]:
        out = runs / name / f"fold-{fold}"
        config = config_for(name, fold, folds, epochs)
        started = time.perf_counter()
        if _same_run(out, config):  # an interrupted or pilot run of this very config: resume it
            result = train_classifier(None, out, resume=True, log=lambda line: None)
        else:
            shutil.rmtree(out, ignore_errors=True)
            result = train_classifier(config, out, log=lambda line: None)
        scored = evaluate_classifier(out / "best.pt", DATA, "val", examples=0, log=lambda line: None)
        row = {
            "fold": fold,
            "slices": len(scored.names),
            "epochs": result.epochs_run,
            "best_epoch": result.best_epoch,
            "minutes": (time.perf_counter() - started) / 60,
            "accuracy": scored.scores.accuracy,
            "balanced_accuracy": scored.scores.balanced_accuracy,
            "macro_f1": scored.scores.macro_f1,
            **scored.calibration,
            **cross_fitted_calibration(scored),
            "recall": {k: v.recall for k, v in scored.scores.per_class.items()},
        }
        print(
            f"{name} fold {fold}: acc {row['accuracy']:.3f} bal {row['balanced_accuracy']:.3f} "
            f"F1 {row['macro_f1']:.3f} ECE {row['ece_uncalibrated']:.3f} -> {row['ece_cross_fitted']:.3f} "
            f"(cross-fitted T) "
            f"({row['epochs']} epochs, {row['minutes']:.1f} min)",
            flush=True,
        )
        rows.append(row)
    summary = {
        key: [float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows]))]
        for key in (
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "ece_uncalibrated",
            "ece_calibrated",
            "nll_uncalibrated",
            "nll_calibrated",
            "ece_cross_fitted",
            "nll_cross_fitted",
            "minutes",
        )
    }
    return {"settings": CANDIDATES[name], "folds": rows, "mean_sd": summary}


def cross_fitted_calibration(scored) -> dict:
    """ECE and NLL of the fold's slices with a temperature fitted on the *other* half of the fold (two
    halves, alternating within each class): the run's own temperature was fitted on this very fold
    (its validation set), so its "calibrated" figures are optimistic."""
    from lungseg.metrics import expected_calibration_error, fit_temperature, negative_log_likelihood, softmax

    logits = np.log(np.clip(scored.uncalibrated, 1e-12, None))
    order = np.lexsort((np.arange(len(scored.truth)), scored.truth))
    halves = [order[0::2], order[1::2]]
    probabilities = np.zeros_like(logits)
    for fit, apply in (halves, halves[::-1]):
        probabilities[apply] = softmax(logits[apply], fit_temperature(logits[fit], scored.truth[fit]))
    return {
        "ece_cross_fitted": expected_calibration_error(probabilities, scored.truth),
        "nll_cross_fitted": negative_log_likelihood(probabilities, scored.truth),
    }


def _same_run(out: Path, config) -> bool:
    from lungseg.models import load_checkpoint, resolve_kwargs

    if not (out / "last.pt").is_file():
        return False
    card = load_checkpoint(out / "last.pt").card
    stored, wanted = dict(card.provenance.config or {}), config.to_dict()
    names = stored.get("model", {}).get("class_names")  # filled in from the class folders
    kwargs = resolve_kwargs(
        config.model.name, {"in_channels": 1, "out_channels": len(names or []), **config.model.kwargs}
    )
    for values in (stored, wanted):  # the network's resolved arguments are compared below instead
        values["model"] = {**values["model"], "kwargs": None, "class_names": names}
    return stored == wanted and dict(card.spec.kwargs) == kwargs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--runs", type=Path, default=Path("runs/classifier-cv"))
    parser.add_argument("--fold", type=int, default=None, help="run only this fold (a pilot, recorded apart)")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name in args.only:
        result = {"folds_k": args.folds, **run_candidate(name, args.folds, args.epochs, args.runs, args.fold)}
        # a pilot (one fold) is recorded under its own key, never as the candidate's cross-validation
        results[name if args.fold is None else f"{name} (pilot: fold {args.fold} only)"] = result
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    print(f"\n{'candidate':28s} {'accuracy':>15s} {'balanced acc':>15s} {'macro-F1':>15s} {'ECE raw->T':>15s}")
    for name, result in results.items():
        m = result["mean_sd"]
        print(
            f"{name:28s} {m['accuracy'][0]:.3f} ± {m['accuracy'][1]:.3f}   {m['balanced_accuracy'][0]:.3f} ± "
            f"{m['balanced_accuracy'][1]:.3f}   {m['macro_f1'][0]:.3f} ± {m['macro_f1'][1]:.3f}   "
            + (
                f"{m['ece_uncalibrated'][0]:.3f} -> {m['ece_cross_fitted'][0]:.3f}"
                if "ece_uncalibrated" in m
                else "n/a"
            )
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
