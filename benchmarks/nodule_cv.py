"""Patient-grouped cross-validation of the lung-nodule recipe on the LIDC-IDRI crops, next to the readers'
own agreement, and what the model says on crops without a nodule.

    .venv/bin/python benchmarks/nodule_cv.py [--recipe recipes/lung-nodule.yaml] [--set train.epochs=12 ...]
        [--tag NAME] [--k 5] [--folds 0,1] [--train-only] [--no-negatives]   # train (resumable), then score
    .venv/bin/python benchmarks/nodule_cv.py --score-only [--tag NAME]

Crops: ``../shared/data/ct-nodule-lidc`` (2023 crops, 409 nodules, 161 patients). Patients are dealt to K
folds from a seeded permutation (``fold_of``); fold I trains the recipe on the other folds' crops (no
validation part: nothing of the held-out patients chooses the epoch) into ``runs/nodule-cv/<tag>/fold-I``
and scores the held-out crops as ``lungseg evaluate`` does (the Predictor, flip pass, probability > 0.5):

- per slice: Dice against the consensus (at least 2 of 4 readers), the empty-prediction rate;
- per nodule: Dice over all the nodule's slices together (3D), small nodules (< 6 mm) apart. The crops
  carry no pixel spacing; a nodule's diameter is the equivalent-circle diameter of its largest consensus
  slice at 0.7 mm per pixel (the middle of the set's 0.6-0.9 mm), an approximation stated as such;
- the readers on the same crops: mean pairwise Dice between readers who both drew, and each reader
  against the consensus of the other three (at least 2 of 3), the ceiling the model is measured against;
- off-nodule crops: 128x128 crops of the kmader CT slices of ct-lung's test split and of the POPI series
  at random points inside the lungs (no nodules are labelled there; ``off_nodule``): the share with any
  pixel called nodule. ``--negatives DIR`` adds crops without a nodule (``tools/nodule_training_set.py``,
  kmader slices of ct-lung's training split) to every fold's training.

Prints a table and writes ``benchmarks/results/nodule_cv.json`` (one entry per tag, kept across runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xray_cv import mean_sd, train  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "ct-nodule-lidc"
RESULTS = ROOT / "benchmarks" / "results" / "nodule_cv.json"
MM_PER_PIXEL = 0.7


def crop_index(data: Path = DATA) -> list[dict]:
    with open(data / "index.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def fold_of(patients: list[str], k: int, seed: int = 0) -> dict[str, int]:
    """Each patient's fold: a seeded permutation dealt round-robin."""
    order = np.random.default_rng(seed).permutation(sorted(patients))
    return {str(patient): position % k for position, patient in enumerate(order)}


def link_folder(folder: Path, ids: list[str], negatives: Path | None = None) -> Path:
    """Links to the fold's training crops, plus every crop without a nodule of ``negatives`` (a folder of
    ``tools/nodule_training_set.py``: kmader slices of ct-lung's training split, never scored here)."""
    extra = sorted(p.stem for p in (negatives / "images").glob("kmader-*.png")) if negatives else []
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for crop in ids:
            link = folder / sub / f"{crop}.png"
            if not link.exists():
                link.symlink_to((DATA / sub / f"{crop}.png").resolve())
        for crop in extra:
            link = folder / sub / f"{crop}.png"
            if not link.exists():
                link.symlink_to((negatives / sub / f"{crop}.png").resolve())
    return folder


def dice_of(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def readers_agreement(ids: list[str]) -> dict:
    """Pairwise reader Dice (pairs who both drew on a slice) and reader vs the other three's consensus."""
    bits = np.load(DATA / "readers_bitmask.npz")
    pairwise, versus = [], []
    for crop in ids:
        stack = np.stack([(bits[crop] >> r) & 1 for r in range(4)]).astype(bool)
        drew = [r for r in range(4) if stack[r].any()]
        for i, a in enumerate(drew):
            for b in drew[i + 1 :]:
                pairwise.append(dice_of(stack[a], stack[b]))
        for r in drew:
            others = np.delete(stack, r, axis=0).sum(0) >= 2
            if others.any():
                versus.append(dice_of(stack[r], others))
    return {"pairwise_dice": mean_sd(pairwise), "reader_vs_others": mean_sd(versus)}


def score(checkpoint: Path, rows: list[dict]) -> dict:
    from lungseg.inference.core.predictor import Predictor
    from lungseg.io import read_image, read_mask

    predictor = Predictor.load(checkpoint, backend="torch")
    per_slice, nodules = [], {}
    for row in rows:
        image = read_image(DATA / "images" / f"{row['id']}.png")
        truth = read_mask(DATA / "masks" / f"{row['id']}.png") > 0
        predicted = np.asarray(predictor.predict([image])[0]) > 0
        per_slice.append({"id": row["id"], "dice": round(dice_of(predicted, truth), 4), "empty": not predicted.any()})
        key = f"{row['patient']}_{row['nodule']}"
        entry = nodules.setdefault(key, {"inter": 0, "total": 0, "largest": 0})
        entry["inter"] += int(np.logical_and(predicted, truth).sum())
        entry["total"] += int(predicted.sum() + truth.sum())
        entry["largest"] = max(entry["largest"], int(truth.sum()))
    per_nodule = []
    for key, entry in nodules.items():
        diameter = 2 * np.sqrt(entry["largest"] / np.pi) * MM_PER_PIXEL
        per_nodule.append(
            {
                "nodule": key,
                "dice": round(2 * entry["inter"] / max(entry["total"], 1), 4),
                "diameter_mm": round(float(diameter), 1),
            }
        )
    return {"slices": per_slice, "nodules": per_nodule}


def detection(checkpoint: Path, rows: list[dict], most: int = 25, seed: int = 0, confirm: Path | None = None) -> dict:
    """Sensitivity of the automatic candidates (``find_candidates``, the whole crop as the lung field)
    on up to ``most`` held-out nodules (a seeded sample): a nodule is found when a candidate overlaps
    its consensus; candidates that do not overlap it are counted as false (they may be other nodules
    or vessels inside the crop). ``confirm``: a point model's checkpoint that confirms and outlines each
    candidate (the shipped two-stage search: ``lung-nodule-search`` finds, ``lung-nodule`` confirms)."""
    from lungseg.inference.core.predictor import Predictor
    from lungseg.inference.nodules.candidates import find_candidates
    from lungseg.inference.nodules.seeded import NoduleSegmenter
    from lungseg.io import read_image, read_mask

    predictor = Predictor.load(checkpoint, backend="torch")
    second = NoduleSegmenter(Predictor.load(confirm, backend="torch")) if confirm else None
    by_nodule: dict[str, list[dict]] = {}
    for row in rows:
        by_nodule.setdefault(f"{row['patient']}_{row['nodule']}", []).append(row)
    keys = sorted(by_nodule)
    keys = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))[:most]]
    found, false = 0, []
    for key in keys:
        chosen = sorted(by_nodule[key], key=lambda r: int(r["slice"].split("-")[1]))
        gray = np.stack([read_image(DATA / "images" / f"{r['id']}.png") for r in chosen]).astype(np.float32)
        truth = np.stack([read_mask(DATA / "masks" / f"{r['id']}.png") > 0 for r in chosen])
        hu = gray / 255.0 * 2000.0 - 1000.0  # back through the recipe's export window
        field = np.ones(hu.shape, bool)
        result = find_candidates(predictor, hu, (1.25, MM_PER_PIXEL, MM_PER_PIXEL), field, confirm=second)
        hits = [c for c in result.found if (c.mask & truth).any()]
        found += bool(hits)
        false.append(len(result.found) - len(hits))
    return {
        "nodules": len(keys),
        "found": found,
        "sensitivity": round(found / max(len(keys), 1), 3),
        "other_candidates_per_nodule_stack": round(float(np.mean(false)), 2) if false else None,
    }


def off_nodule_crops(count: int = 60, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """128x128 crops at random lung points of kmader slices and POPI slices, rendered as the crops were
    (8-bit through the recipe's export window, via the Predictor's own plan: returned as HU)."""
    from lungseg.io import read_image, read_mask, read_volume

    rng = np.random.default_rng(seed)
    crops = []
    import torch

    kmader = ROOT / ".." / "shared" / "data" / "ct-lung-kmader"
    shipped = torch.load(ROOT / "src" / "lungseg" / "weights" / "ct-lung.pt", map_location="cpu", weights_only=True)
    test = sorted(shipped["split"]["test"])  # ct-lung's test split: never among the negatives of training
    for name in test[: count // 2]:
        path = next((kmader / "images").glob(f"{Path(name).stem}.*"))
        image = read_image(path).astype(np.float32)
        lung = read_mask(next((kmader / "masks").glob(path.stem + "*"))) > 0
        crops.append((f"kmader {path.stem}", _random_crop(image, lung, rng)))
    import SimpleITK as sitk

    volume = read_volume(ROOT / ".." / "shared" / "data" / "ct-volume-popi" / "dicom")
    hu = sitk.GetArrayFromImage(volume).astype(np.float32)
    for z in rng.choice(np.arange(hu.shape[0] // 4, 3 * hu.shape[0] // 4), count // 2, replace=False):
        section = hu[z]
        lung = (section < -500) & (section > -990)
        crops.append((f"popi z{z}", _random_crop(section, lung, rng)))
    return crops


def _random_crop(image: np.ndarray, lung: np.ndarray, rng) -> np.ndarray:
    ys, xs = np.nonzero(lung[64:-64, 64:-64])
    pick = rng.integers(len(ys))
    y, x = ys[pick] + 64, xs[pick] + 64
    return image[y - 64 : y + 64, x - 64 : x + 64]


def off_nodule(checkpoint: Path) -> dict:
    from lungseg.inference.core.predictor import Predictor

    predictor = Predictor.load(checkpoint, backend="torch")
    called = []
    for name, crop in off_nodule_crops():
        predicted = np.asarray(predictor.predict([crop])[0]) > 0
        called.append({"crop": name, "pixels": int(predicted.sum())})
    return {
        "n": len(called),
        "any_called": sum(c["pixels"] > 0 for c in called),
        "pixels_median": float(np.median([c["pixels"] for c in called])),
        "crops": called,
    }


def summarise(folds: list[dict]) -> dict:
    def fold_means(pick) -> list:
        return mean_sd(np.mean(values) for values in (pick(f) for f in folds) if len(values))

    return {
        "slice_dice": fold_means(lambda f: [s["dice"] for s in f["slices"]]),
        "nodule_dice": fold_means(lambda f: [n["dice"] for n in f["nodules"]]),
        "nodule_dice_small": fold_means(lambda f: [n["dice"] for n in f["nodules"] if n["diameter_mm"] < 6]),
        "nodule_dice_6mm_up": fold_means(lambda f: [n["dice"] for n in f["nodules"] if n["diameter_mm"] >= 6]),
        "empty_rate": fold_means(lambda f: [s["empty"] for s in f["slices"]]),
        "small_nodules": sum(n["diameter_mm"] < 6 for f in folds for n in f["nodules"]),
        "nodules": sum(len(f["nodules"]) for f in folds),
        "detection_sensitivity": mean_sd(f["detection"]["sensitivity"] for f in folds if "detection" in f),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=ROOT / "recipes" / "lung-nodule.yaml", type=Path)
    parser.add_argument("--set", dest="settings", action="append", default=[], help="SECTION.KEY=VALUE")
    parser.add_argument("--tag", default="recipe")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--folds", default=None, help="comma-separated fold numbers (default: all)")
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--score-only", action="store_true")
    parser.add_argument("--out", default=ROOT / "runs" / "nodule-cv", type=Path)
    parser.add_argument(
        "--negatives",
        default=ROOT / "runs" / "lung-nodule-data",
        type=Path,
        help="folder of tools/nodule_training_set.py (made when missing)",
    )
    parser.add_argument("--no-negatives", action="store_true", help="the LIDC crops alone (the centred recipe)")
    parser.add_argument("--off-nodule", action="store_true", help="score off-nodule crops also with --folds")
    args = parser.parse_args()

    if args.no_negatives:
        args.negatives = None
    elif not args.score_only and not (args.negatives / "images").is_dir():
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "nodule_training_set.py"), str(args.negatives)], check=True
        )
    rows = crop_index()
    folds = fold_of(sorted({r["patient"] for r in rows}), args.k)
    chosen = [int(f) for f in args.folds.split(",")] if args.folds else list(range(args.k))
    base = args.out / args.tag
    if not args.score_only:
        for fold in chosen:
            started = time.perf_counter()
            train_ids = [r["id"] for r in rows if folds[r["patient"]] != fold]
            data = link_folder(base / f"fold-{fold}" / "data", train_ids, args.negatives)
            train(args.recipe, args.settings, data, base / f"fold-{fold}" / "run")
            print(f"fold {fold}: trained in {time.perf_counter() - started:.0f} s", flush=True)
    if args.train_only:
        return
    scored = []
    for fold in chosen:
        run = base / f"fold-{fold}" / "run"
        if not (run / "best.pt").is_file():
            print(f"fold {fold}: not trained, skipped")
            continue
        held_out = [r for r in rows if folds[r["patient"]] == fold]
        cached = run / "score.json"  # a fold's scores, kept while its best.pt is unchanged
        if cached.is_file() and cached.stat().st_mtime > (run / "best.pt").stat().st_mtime:
            result = json.loads(cached.read_text())
        else:
            result = score(run / "best.pt", held_out)
            result["fold"] = fold
            result["readers"] = readers_agreement([r["id"] for r in held_out])
            result["detection"] = detection(run / "best.pt", held_out)
            cached.write_text(json.dumps(result) + "\n")
        summary = summarise([result])
        print(
            f"fold {fold}: slice Dice {summary['slice_dice'][0]:.3f}  nodule Dice {summary['nodule_dice'][0]:.3f}  "
            f"readers pairwise {result['readers']['pairwise_dice'][0]:.3f}",
            flush=True,
        )
        scored.append(result)
    entry = {
        "recipe": str(args.recipe.resolve().relative_to(ROOT)),
        "settings": args.settings,
        "k": args.k,
        "folds": [{"fold": f["fold"], **summarise([f]), "readers": f["readers"]} for f in scored],
        "summary": summarise(scored) if scored else None,
        "readers": readers_agreement([r["id"] for r in rows]),
    }
    if scored and (not args.folds or args.off_nodule):
        entry["off_nodule"] = off_nodule(base / f"fold-{scored[0]['fold']}" / "run" / "best.pt")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.tag] = entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in entry.items() if k not in ("folds", "off_nodule")}, indent=1))


if __name__ == "__main__":
    main()
