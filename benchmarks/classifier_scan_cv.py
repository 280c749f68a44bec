"""Cancer-type classifier candidates on scans they have never seen: scan-disjoint cross-validation.

    .venv/bin/python benchmarks/classifier_scan_cv.py [--only NAME ...] [--folds 5] [--cut 1.0]
                                                      [--grouping scan|slice] [--look]

The set is ../shared/data/chest-ct-cancer (train + valid pooled, the label conflict left out). Folds
keep every *scan group* (``data.scan_groups``: copies of a slice, matched neighbouring slices and slices
of one export style, within a class) on one side, stratified by class; ``--grouping slice`` keeps only
copies of one slice together (today's ``classifier_cv.py`` folds) for comparison. One picture per
distinct slice is scored. Per candidate: accuracy, balanced accuracy, macro-F1, per-class recall,
ECE before and after temperature scaling *cross-fitted* on the folds (fold i's temperature is fitted on
the out-of-fold predictions of the other folds), and abstention: fold i's confidence threshold is
chosen on the other folds (the lowest answering ``--target`` accuracy), then fold i's coverage and
accuracy when answered. ``final`` holds the values for a model trained on all folds: the temperature
and threshold fitted on every out-of-fold prediction, the highest confidence a display may state (the
accuracy of the out-of-fold predictions >= 0.9 confident) and the expected accuracy on new scans.

Candidates: ``1-nn-thumbnails`` (nearest training picture at 48x48; a class's score is minus the
distance to its nearest picture), ``radiomics-logreg`` (``data.radiomics`` features, standardised,
L2 logistic regression, scikit-learn), ``ctlung-encoder-logreg`` (the pooled encoder features of
the shipped ``ct-lung-8bit`` U-Net, no training, and the same logistic regression), ``recipe`` (the
shipped ResNet-18 recipe, recipes/ct-cancer-type.yaml) and ``ctlung-probe`` (its candidate
recipes/candidates/ct-cancer-type-ctlung-probe.yaml: the ct-lung-8bit encoder frozen, a linear head
trained). Recipes are trained per fold with ``--threads`` CPU threads (1 by default; up to 30 minutes
per fold); the held-out fold is their test part, so nothing of it chooses an epoch. Writes
benchmarks/results/classifier_scan_cv.json (merged by candidate and grouping); ``--look`` writes a grid
picture of each large scan group to runs/look/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "chest-ct-cancer"
RESULTS = REPO / "benchmarks" / "results" / "classifier_scan_cv.json"
RECIPES = {  # trained candidates: the shipped recipe and recipe candidates
    "recipe": "recipes/ct-cancer-type.yaml",
    "ctlung-probe": "recipes/candidates/ct-cancer-type-ctlung-probe.yaml",
}
CANDIDATES = ("1-nn-thumbnails", "radiomics-logreg", "ctlung-encoder-logreg", *RECIPES)
TARGET = 0.8


def load_set(cut: float):
    """(names, pictures, labels, slice groups, scan groups) of the set."""
    from lungseg.data.class_folders import find_labelled_images, read_picture
    from lungseg.data.scan_groups import group_scans
    from lungseg.data.slice_groups import group_slices

    images = find_labelled_images(DATA)
    pictures = {item.name: read_picture(item.path).gray for item in images}
    slices = group_slices(images, [pictures[item.name] for item in images])
    scans = group_scans(slices, pictures, cut=cut)
    return images, pictures, slices, scans


def folds_of(slices, scans, grouping: str, folds: int, seed: int = 0) -> list:
    """The K splits (train, val names) with scan groups (or slice groups) kept whole, by class."""
    from lungseg.data import make_split

    names = slices.usable()
    links = (
        scans.links()
        if grouping == "scan"
        else [
            (link.first, link.second)
            for link in slices.links
            if link.first in scans.scan_of and link.second in scans.scan_of
        ]
    )
    strata = {name: slices.labels[name] for name in names}
    return [make_split(names, f"kfold:{folds}:{fold}", seed, None, links, strata) for fold in range(folds)]


def thumbnails(pictures: dict, names: list[str]) -> np.ndarray:
    from PIL import Image

    def one(name: str) -> np.ndarray:
        small = np.asarray(Image.fromarray(pictures[name]).resize((48, 48), Image.BILINEAR), np.float32)
        return ((small - small.mean()) / (small.std() + 1e-6)).ravel()

    return np.stack([one(name) for name in names])


def nearest_logits(train_x, train_y, test_x, classes: int) -> np.ndarray:
    """Minus the distance to the nearest training picture of each class, over the median distance."""
    distances = np.sqrt(((test_x[:, None, :] - train_x[None]) ** 2).sum(-1))
    nearest = np.stack(
        [
            distances[:, train_y == c].min(1) if (train_y == c).any() else np.full(len(test_x), 1e6)
            for c in range(classes)
        ],
        1,
    )
    return -nearest / np.median(nearest)


def radiomics_logits(train_x, train_y, test_x, weights, c: float = 0.1) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(scaler.transform(train_x), train_y, sample_weight=weights)
    return model.decision_function(scaler.transform(test_x))


def encoder_features(pictures: dict, names: list[str]) -> dict[str, np.ndarray]:
    """Features of the shipped ``ct-lung-8bit`` U-Net's encoder (no training): per level the mean and
    the max of every channel over the picture (the model's own 256-px grid and intensity plan)."""
    import torch

    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint, model_from_checkpoint

    checkpoint = load_checkpoint(resolve_model("ct-lung-8bit"))
    net, plan = model_from_checkpoint(checkpoint).eval(), checkpoint.card.plan
    found = {}
    with torch.no_grad():
        for name in names:
            x = torch.from_numpy(plan.prepare(pictures[name])[0])[None, None]
            levels = []
            for encoder in net.encoders:
                x = encoder(x)
                levels.append(x)
                x = torch.nn.functional.max_pool2d(x, 2)
            levels.append(net.bottleneck(x))
            found[name] = (
                torch.cat([torch.cat([v.mean(dim=(2, 3)), v.amax(dim=(2, 3))], 1) for v in levels[2:]], 1)[0]
                .numpy()
                .astype(np.float64)
            )
    return found


def as_train_test(split):
    """A k-fold split with its validation fold moved to ``test`` (spec ``K-1:1``, train:test)."""
    from dataclasses import replace

    k = int(split.spec.split(":")[1])
    return replace(split, val=[], test=list(split.val), spec=f"{k - 1}:1")


def network_logits(
    name: str,
    split,
    fold: int,
    grouping: str,
    runs: Path,
    class_names,
    pictures,
    val: list[str],
    epochs: int | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Train the recipe of candidate ``name`` (``threads`` CPU threads) on the fold's training files;
    logits of ``val``.

    The held-out fold is the run's *test* part, not its validation part: nothing of it chooses the epoch
    kept (with no validation slices the engine keeps the lowest training loss) or the temperature."""
    from lungseg.config import classifier_defaults, merge_config
    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.training.classify_run import train_classifier

    out = runs / f"{name}-{grouping}" / f"fold-{fold}"
    if not (out / "best.pt").is_file():
        config = merge_config(
            REPO / RECIPES[name],
            {"data.data": str(DATA.resolve()), "train.threads": threads, "train.epochs": epochs},
            None,
            defaults=classifier_defaults(),
        )
        config.model.class_names = list(class_names)
        train_classifier(config, out, log=lambda line: None, split=as_train_test(split))
    classifier = ImageClassifier.load(out / "best.pt", check_inputs=False, device="cpu")
    return np.concatenate([classifier.logits([pictures[n] for n in val[i : i + 32]]) for i in range(0, len(val), 32)])


def cross_validate(
    name: str,
    splits,
    pictures,
    slices,
    class_names,
    grouping: str,
    runs: Path,
    epochs: int | None = None,
    threads: int = 1,
) -> dict:
    from lungseg.data.class_dataset import representatives
    from lungseg.data.radiomics import radiomics_features

    features = {}
    oof = []
    for fold, split in enumerate(splits):
        started = time.perf_counter()
        val = representatives(split.val, slices.group_of)
        train = representatives(split.train, slices.group_of)  # one picture per distinct slice
        train_y = np.array([class_names.index(slices.labels[n]) for n in train])
        if name == "1-nn-thumbnails":
            logits = nearest_logits(thumbnails(pictures, train), train_y, thumbnails(pictures, val), len(class_names))
        elif name == "radiomics-logreg":
            for n in train + val:
                if n not in features:
                    features[n] = radiomics_features(pictures[n])
            logits = radiomics_logits(
                np.stack([features[n] for n in train]), train_y, np.stack([features[n] for n in val]), None
            )
        elif name == "ctlung-encoder-logreg":
            if not features:
                features = encoder_features(
                    pictures, sorted({n for s in splits for n in representatives(s.train + s.val, slices.group_of)})
                )
            logits = radiomics_logits(
                np.stack([features[n] for n in train]), train_y, np.stack([features[n] for n in val]), None, c=0.01
            )
        else:
            logits = network_logits(
                name, split, fold, grouping, runs / f"{len(splits)}-folds", class_names, pictures, val, epochs, threads
            )
        truth = np.array([class_names.index(slices.labels[n]) for n in val])
        oof.append((val, logits, truth))
        print(f"{name} [{grouping}] fold {fold}: {len(val)} slices, {time.perf_counter() - started:.0f} s", flush=True)
    return summarise(oof, class_names) | {"fold_sizes": [len(v) for v, _, _ in oof]}


def summarise(oof, class_names) -> dict:
    """Per-fold scores with cross-fitted temperature and threshold; the pooled curve and final values."""
    from lungseg.metrics import classification_metrics, expected_calibration_error, fit_temperature, softmax
    from lungseg.metrics.abstention import accuracy_coverage, choose_threshold, display_cap

    rows, pooled = [], []
    for i, (val, logits, truth) in enumerate(oof):
        others = [j for j in range(len(oof)) if j != i]
        other_logits = np.concatenate([oof[j][1] for j in others])
        other_truth = np.concatenate([oof[j][2] for j in others])
        temperature = fit_temperature(other_logits, other_truth)
        other_p = softmax(other_logits, temperature)
        threshold = choose_threshold(other_p.max(1), other_p.argmax(1) == other_truth, TARGET)
        raw, calibrated = softmax(logits), softmax(logits, temperature)
        predicted = calibrated.argmax(1)
        scores = classification_metrics(truth, predicted, class_names)
        answered = calibrated.max(1) >= threshold
        rows.append(
            {
                "fold": i,
                "slices": len(val),
                "accuracy": scores.accuracy,
                "balanced_accuracy": scores.balanced_accuracy,
                "macro_f1": scores.macro_f1,
                "recall": {k: v.recall for k, v in scores.per_class.items()},
                "temperature": temperature,
                "ece_uncalibrated": expected_calibration_error(raw, truth),
                "ece_cross_fitted": expected_calibration_error(calibrated, truth),
                "threshold": threshold,
                "coverage": float(answered.mean()),
                "answered_accuracy": float((predicted == truth)[answered].mean()) if answered.any() else None,
            }
        )
        pooled.append((calibrated, truth))
    probabilities = np.concatenate([p for p, _ in pooled])
    truth = np.concatenate([t for _, t in pooled])
    correct = probabilities.argmax(1) == truth
    all_logits = np.concatenate([logits for _, logits, _ in oof])
    final_t = fit_temperature(all_logits, truth)
    final_p = softmax(all_logits, final_t)
    final_threshold = choose_threshold(final_p.max(1), final_p.argmax(1) == truth, TARGET)
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "ece_uncalibrated", "ece_cross_fitted", "coverage")
    mean_sd = {key: [float(np.mean([r[key] for r in rows])), float(np.std([r[key] for r in rows]))] for key in keys}
    answered = [r["answered_accuracy"] for r in rows if r["answered_accuracy"] is not None]
    mean_sd["answered_accuracy"] = [float(np.mean(answered)), float(np.std(answered))] if answered else [None, None]
    recall = {c: float(np.mean([r["recall"][c] for r in rows])) for c in class_names}
    return {
        "folds": rows,
        "mean_sd": mean_sd,
        "recall_mean": recall,
        "pooled": {
            "accuracy": float(correct.mean()),
            "ece_cross_fitted": expected_calibration_error(probabilities, truth),
            "accuracy_coverage": accuracy_coverage(probabilities.max(1), correct),
        },
        "final": {
            "temperature": final_t,
            "threshold": final_threshold,
            "target_accuracy": TARGET,
            "display_cap": display_cap(final_p.max(1), final_p.argmax(1) == truth),
            "expected_accuracy": mean_sd["accuracy"][0],
            "expected_balanced_accuracy": mean_sd["balanced_accuracy"][0],
            "expected_answered_accuracy": mean_sd["answered_accuracy"][0],
            "expected_coverage": mean_sd["coverage"][0],
        },
    }


def look(scans, slices, pictures, out: Path = REPO / "runs" / "look", largest: int = 12) -> None:
    """A grid of each large scan group's distinct slices (at most 48) in ``out``."""
    from PIL import Image, ImageDraw

    out.mkdir(parents=True, exist_ok=True)
    groups = sorted(scans.members().items(), key=lambda kv: -len({slices.group_of[n] for n in kv[1]}))[:largest]
    for key, names in groups:
        heads = sorted({slices.group_of[n] for n in names})[:48]
        width, height, cols = 150, 105, 8
        grid = Image.new("L", (cols * width, ((len(heads) + cols - 1) // cols) * (height + 12)), 0)
        draw = ImageDraw.Draw(grid)
        for i, head in enumerate(heads):
            thumb = Image.fromarray(pictures[head])
            thumb.thumbnail((width, height))
            x, y = (i % cols) * width, (i // cols) * (height + 12)
            grid.paste(thumb, (x, y + 12))
            draw.text((x + 2, y), head.split("/")[-1][:24], fill=255)
        label = scans.labels[key]
        grid.save(
            out / f"scan_{label}_{len(heads)}slices_{scans.evidence[key].replace(' ', '')}_"
            f"{Path(key).stem.replace(' ', '_')}.png"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=["1-nn-thumbnails", "radiomics-logreg"], choices=CANDIDATES)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cut", type=float, default=None, help="style cut of data.scan_groups (default its own)")
    parser.add_argument("--grouping", default="scan", choices=("scan", "slice"))
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "classifier-scan-cv")
    parser.add_argument("--look", action="store_true")
    parser.add_argument("--epochs", type=int, default=None, help="recipe: fewer epochs (a smoke test, recorded apart)")
    parser.add_argument("--threads", type=int, default=1, help="recipe: CPU threads for training")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    from lungseg.data.scan_groups import STYLE_CUT

    cut = STYLE_CUT if args.cut is None else args.cut
    images, pictures, slices, scans = load_set(cut)
    class_names = sorted({item.label for item in images})
    print(scans.summary_line())
    if args.look:
        look(scans, slices, pictures)
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results.pop("scan_groups", None)  # the first layout: one block, whichever cut ran last
    results[f"scan_groups [cut {cut}]"] = {
        "cut": cut,
        **{k: v for k, v in scans.to_dict(slices).items() if k in ("summary", "classes", "style_recall")},
    }
    args.results.write_text(json.dumps(results, indent=1))
    splits = folds_of(slices, scans, args.grouping, args.folds)
    for name in args.only:
        key = f"{name} [{args.grouping}-disjoint, cut {cut}" if args.grouping == "scan" else f"{name} [slice-grouped"
        key += (
            (f", {args.folds} folds" if args.folds != 5 else "")
            + (f", {args.epochs} epochs" if args.epochs else "")
            + "]"
        )
        results[key] = {
            "folds_k": args.folds,
            "grouping": args.grouping,
            "cut": cut,
            "command": " ".join(
                [
                    "python benchmarks/classifier_scan_cv.py",
                    "--only",
                    name,
                    "--folds",
                    str(args.folds),
                    "--grouping",
                    args.grouping,
                    "--cut",
                    str(cut),
                ]
                + (["--epochs", str(args.epochs)] if args.epochs else [])
            ),
            **cross_validate(
                name, splits, pictures, slices, class_names, args.grouping, args.runs, args.epochs, args.threads
            ),
        }
        args.results.write_text(json.dumps(results, indent=1))
        m = results[key]["mean_sd"]
        print(
            f"{key}: acc {m['accuracy'][0]:.3f} ± {m['accuracy'][1]:.3f}, bal {m['balanced_accuracy'][0]:.3f}, "
            f"F1 {m['macro_f1'][0]:.3f}, ECE {m['ece_uncalibrated'][0]:.3f} -> {m['ece_cross_fitted'][0]:.3f}, "
            f"answered {m['coverage'][0]:.2f} at acc {m['answered_accuracy'][0]}",
            flush=True,
        )
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
