"""Ground glass vs consolidation: three ways to get the two classes, compared on the same 5 CV folds.

    .venv/bin/python benchmarks/infection_types_cv.py

Needs the two cross-validations of ``tools/release_weights.py`` (same slices, same seeded folds grouped
by near-duplicates, so fold I of one is fold I of the other):
``runs/cv-covid-infection`` (binary infection) and ``runs/cv-covid-infection-types`` (3-class).

- ``3-class``: the 3-class fold model alone (argmax of its softmax).
- ``binary x 3-class``: where the binary fold model says infection, the 3-class model's more likely
  lesion class (argmax over ground glass and consolidation only); background elsewhere.
- ``binary x gray threshold``: where the binary model says infection, consolidation above a gray level
  fitted on the fold's *training* slices (the level that best separates the true classes' pixels).

Per-class Dice with the empty-mask rule, on each validation fold; prints mean ± sd over folds and
writes benchmarks/results/infection_types_cv.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

NAMES = {1: "ground-glass opacity", 2: "consolidation"}


def load(root: Path, name: str):
    from lungseg.io import read_image
    from lungseg.io.label_maps import read_label_map

    image = read_image(next((root / "images").glob(f"{name}.*")))
    return (image if image.ndim == 2 else image[..., 0]), read_label_map(root / "masks_multiclass" / f"{name}.png", 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/covid-infection/train", type=Path)
    parser.add_argument("--binary", default="runs/cv-covid-infection", type=Path)
    parser.add_argument("--types", default="runs/cv-covid-infection-types", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/infection_types_cv.json", type=Path)
    args = parser.parse_args()
    from lungseg.inference import Predictor
    from lungseg.metrics.multiclass import MultiClassAccumulator, per_class_metrics
    from lungseg.models.gray_split import fit_gray_level  # the shipped types model's own fit

    methods = ("3-class", "binary x 3-class", "binary x gray threshold")
    folds = {method: [] for method in methods}
    thresholds = []
    for fold in range(args.folds):
        binary = Predictor.load(args.binary / f"fold-{fold}" / "best.pt", backend="torch")
        types = Predictor.load(args.types / f"fold-{fold}" / "best.pt", backend="torch")
        if binary.card.split.val != types.card.split.val:
            raise SystemExit(f"fold {fold}: the two cross-validations have different validation slices")
        threshold = fit_gray_level(*zip(*[load(args.data, name) for name in types.card.split.train]))
        thresholds.append(threshold)
        accumulators = {method: MultiClassAccumulator(NAMES) for method in methods}
        for name in types.card.split.val:
            image, truth = load(args.data, name)
            infected = binary.predict([image])[0]
            probabilities = types.class_probabilities([image])[0]
            lesion_class = (1 + np.argmax(probabilities[1:], axis=0)).astype(np.uint8)
            predictions = {
                "3-class": np.argmax(probabilities, axis=0).astype(np.uint8),
                "binary x 3-class": np.where(infected, lesion_class, 0).astype(np.uint8),
                "binary x gray threshold": np.where(infected, np.where(image >= threshold, 2, 1), 0),
            }
            for method, prediction in predictions.items():
                accumulators[method].add(name, per_class_metrics(prediction, truth, list(NAMES), with_hd95=False))
        for method, accumulator in accumulators.items():
            summary = accumulator.summary()
            folds[method].append({NAMES[c]: summary["classes"][NAMES[c]]["dice"]["mean"] for c in NAMES})
    table = {}
    print(f"{'method':26} {'ground-glass Dice':>20} {'consolidation Dice':>20} {'mean':>7}")
    for method, rows in folds.items():
        per_class = {
            cls: (float(np.mean([r[cls] for r in rows])), float(np.std([r[cls] for r in rows])))
            for cls in NAMES.values()
        }
        mean = float(np.mean([m for m, _ in per_class.values()]))
        table[method] = {
            "per_class": {k: {"mean": m, "sd": s, "folds": [r[k] for r in rows]} for k, (m, s) in per_class.items()},
            "mean": mean,
        }
        ggo, con = per_class["ground-glass opacity"], per_class["consolidation"]
        print(f"{method:26} {ggo[0]:12.4f} ± {ggo[1]:.4f} {con[0]:12.4f} ± {con[1]:.4f} {mean:7.4f}")
    print(f"gray thresholds fitted per fold: {thresholds}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"methods": table, "gray_thresholds": thresholds}, indent=1))


if __name__ == "__main__":
    main()
