"""Leave-one-out Dice of the X-ray lung recipe on the 4 Montgomery chest X-rays.

    .venv/bin/python benchmarks/xray_loo.py [--recipe recipes/candidates/xray-lung-4films.yaml] [--set
        train.epochs=40 ...]
                                             [--tag NAME] [--folds 0,1,2,3]

Fold I trains the recipe on the other three X-rays (no validation split: nothing of the held-out X-ray
chooses the epoch) into ``runs/xray-loo/<tag>/fold-I`` and scores the held-out X-ray on its own
512x512 grid: Dice of the model's raw mask (probability > 0.5) and of the product's output (the
``RadiographSegmenter``: two largest lung fields, holes filled, right/left split), and the
Dice of the held-out film altered as another hospital might send it (``shifted_films``). Prints a table and writes
``benchmarks/results/xray_loo.json`` (one entry per tag, kept across runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "xray-lung-montgomery"
RESULTS = ROOT / "benchmarks" / "results" / "xray_loo.json"


def fold_folder(tmp: Path, train_names: list[str]) -> Path:
    """A data folder of links to the training X-rays and masks."""
    for sub in ("images", "masks"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    for name in train_names:
        for source in [DATA / "images" / f"{name}.jpg", DATA / "masks" / f"{name}-mask.png"]:
            link = tmp / source.parent.name / source.name
            if not link.exists():
                link.symlink_to(source.resolve())
    return tmp


def score(checkpoint: Path, name: str) -> dict:
    from lungseg.inference.core.predictor import Predictor
    from lungseg.inference.xray.film_segmenter import RadiographSegmenter
    from lungseg.io import read_image, read_mask
    from lungseg.metrics.functional import dice

    image = read_image(DATA / "images" / f"{name}.jpg")
    truth = read_mask(DATA / "masks" / f"{name}-mask.png")
    predictor = Predictor.load(checkpoint, backend="torch")
    raw = predictor.predict([image])[0]
    segmenter = RadiographSegmenter(predictor)
    result = segmenter.segment(image)
    labels = np.asarray(result.labels)
    shifted = {
        label: round(float(dice(_back(np.asarray(segmenter.segment(variant).labels) > 0, truth.shape), truth)), 4)
        for label, variant in shifted_films(image).items()
    }
    return {
        "name": name,
        "dice_raw": round(float(dice(raw, truth)), 4),
        "dice": round(float(dice(labels > 0, truth)), 4),
        "quality": result.quality.score,
        "findings": [f.code.value for f in result.findings if f.level != "info"],
        "shifted": shifted,
    }


def _back(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask of a shifted film back on the 512 x 512 grid of the truth (unpad or downsize)."""
    import cv2

    if mask.shape == (shape[0] + 192, shape[1] + 32):
        return mask[96:-96, 16:-16]
    if mask.shape != shape:
        return cv2.resize(mask.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_AREA) > 0
    return mask


def shifted_films(image: np.ndarray) -> dict[str, np.ndarray]:
    """The held-out film as another hospital might send it: darker or brighter exposure (gamma), flat
    contrast, soft focus, a 12-bit film at 4x the size, and a portrait frame with a wide border."""
    import cv2

    unit = image.astype(np.float32) / 255.0
    portrait = np.pad(image, ((96, 96), (16, 16)), constant_values=0)
    return {
        "gamma 0.6": np.rint(unit**0.6 * 255).astype(np.uint8),
        "gamma 1.6": np.rint(unit**1.6 * 255).astype(np.uint8),
        "contrast x0.5": np.rint(64 + unit * 127).astype(np.uint8),
        "blur sigma 3": cv2.GaussianBlur(image, (0, 0), 3),
        "12-bit 2048 px": cv2.resize((unit * 4095).astype(np.uint16), (2048, 2048), interpolation=cv2.INTER_CUBIC),
        "portrait border": portrait,
    }


def _finished(run: Path, epochs: int) -> bool:
    """Whether the fold's run trained all its epochs (then it is only scored again)."""
    history = run / "history.csv"
    return (run / "best.pt").is_file() and history.is_file() and len(history.read_text().splitlines()) - 1 >= epochs


def _train_seconds(run: Path) -> int:
    """Training time from the run's own history (so rescoring a finished run keeps it)."""
    import csv

    with open(run / "history.csv", newline="") as handle:
        return round(sum(float(row["seconds"]) for row in csv.DictReader(handle)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=ROOT / "recipes" / "candidates" / "xray-lung-4films.yaml", type=Path)
    parser.add_argument("--set", dest="settings", action="append", default=[], help="SECTION.KEY=VALUE")
    parser.add_argument("--tag", default="recipe")
    parser.add_argument("--folds", default="0,1,2,3")
    parser.add_argument("--out", default=ROOT / "runs" / "xray-loo", type=Path)
    args = parser.parse_args()
    from lungseg.config.files import merge_config, parse_assignment
    from lungseg.training import train_run

    names = sorted(p.stem for p in (DATA / "images").glob("*.jpg"))
    folds = [int(f) for f in args.folds.split(",")]
    seconds = {}
    for fold in folds:  # train every fold first, then score (scoring can be rerun alone)
        folder = fold_folder(args.out / args.tag / f"data-{fold}", [n for n in names if n != names[fold]])
        settings = dict(parse_assignment(text, "--set") for text in args.settings)
        settings["data.data"] = str(folder)
        config = merge_config(args.recipe, settings)
        run = args.out / args.tag / f"fold-{fold}"
        started = time.perf_counter()
        if not _finished(run, config.train.epochs):
            train_run(config, run, resume=(run / "last.pt").exists(), log=lambda line: None)
        seconds[fold] = round(time.perf_counter() - started)
        print(f"fold {fold}: trained in {seconds[fold]} s", flush=True)
    rows = []
    for fold in folds:
        run = args.out / args.tag / f"fold-{fold}"
        row = {"fold": fold, **score(run / "best.pt", names[fold]), "train_seconds": _train_seconds(run)}
        rows.append(row)
        print(
            f"fold {fold} held out {names[fold]}: Dice {row['dice']:.4f} (raw {row['dice_raw']:.4f}), "
            f"quality {row['quality']}, flags {row['findings']}; shifted films: "
            + ", ".join(f"{k} {v:.3f}" for k, v in row["shifted"].items())
        )
    dice = np.array([row["dice"] for row in rows])
    summary = {
        "recipe": str(args.recipe.relative_to(ROOT)) if args.recipe.is_relative_to(ROOT) else str(args.recipe),
        "settings": args.settings,
        "folds": rows,
        "dice_mean": round(float(dice.mean()), 4),
        "dice_sd": round(float(dice.std(ddof=1)), 4) if len(dice) > 1 else None,
        "dice_raw_mean": round(float(np.mean([row["dice_raw"] for row in rows])), 4),
        "shifted_mean": {
            key: round(float(np.mean([row["shifted"][key] for row in rows])), 4) for key in rows[0]["shifted"]
        },
    }
    print(
        f"{args.tag}: leave-one-out Dice {summary['dice_mean']:.4f} ± {summary['dice_sd'] or 0:.4f} "
        f"(raw {summary['dice_raw_mean']:.4f}) over {len(rows)} folds"
    )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.tag] = summary
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
