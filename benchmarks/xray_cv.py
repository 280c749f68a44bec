"""Cross-validation of the X-ray lung recipe on the 138 Montgomery films, the normal <-> tuberculosis shift,
and the films altered as another hospital might send them.

    .venv/bin/python benchmarks/xray_cv.py [--recipe recipes/xray-lung.yaml] [--set train.epochs=30 ...]
                                            [--tag NAME] [--k 5] [--folds 0,1,2,3,4]
    .venv/bin/python benchmarks/xray_cv.py --shift [--tag NAME]     # normal -> TB and TB -> normal
    .venv/bin/python benchmarks/xray_cv.py --score MODEL --tag NAME  # a trained model on all 138 films

Films: ``../shared/data/xray-lung-montgomery-138`` (one film per patient, ``_0`` normal, ``_1`` TB). Folds
are stratified by normal/TB from a seeded permutation (``fold_of``); fold I trains the recipe on the
other folds (no validation part: nothing of the held-out films chooses the epoch) into
``runs/xray-cv/<tag>/fold-I`` and scores its held-out films on their own 512x512 grid:

- ``dice``: what ``lungseg evaluate --model M --images DIR --masks DIR`` scores (the Predictor with its
  flip test-time pass, probability > 0.5);
- ``dice_product``: the product's output (``RadiographSegmenter``: two largest lung fields, holes
  filled, right/left split);
- ``shifted``: the product's Dice on the film altered as another hospital might send it
  (``xray_loo.shifted_films`` plus the film at the aspect ratio of the originals, portrait 4020x4892
  and landscape 4892x4020: the stored films were squeezed to 512x512);
- ``old4``: the 4 films of ``xray-lung-montgomery`` (other processing: cropped, JPEG; possibly the same
  patients as 4 of the 138, see its SOURCE.txt), scored by every fold's model.

``--shift`` trains on all normal films and scores the TB films, and the reverse. ``--score`` scores a
model that never saw these films (e.g. the first xray-lung, trained on the 4 other films) on all 138. Prints a table and
writes ``benchmarks/results/xray_cv.json`` (one entry per tag, kept across runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xray_loo import _back, _finished, _train_seconds, shifted_films  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "xray-lung-montgomery-138"
OLD4 = ROOT / ".." / "shared" / "data" / "xray-lung-montgomery"
RESULTS = ROOT / "benchmarks" / "results" / "xray_cv.json"


def film_names(data: Path = DATA) -> list[str]:
    return sorted(p.stem for p in (data / "images").glob("*.png"))


def is_tb(name: str) -> bool:
    """Montgomery file names end in _1 for tuberculosis, _0 for normal."""
    return name.endswith("_1")


def fold_of(names: list[str], k: int, seed: int = 0) -> dict[str, int]:
    """Each film's fold: normal and TB films each permuted by ``seed`` and dealt round-robin, so every
    fold holds about the same share of TB films. One film per patient, so this is a patient split."""
    rng = np.random.default_rng(seed)
    folds = {}
    for group in ([n for n in names if not is_tb(n)], [n for n in names if is_tb(n)]):
        for position, index in enumerate(rng.permutation(len(group))):
            folds[group[index]] = position % k
    return folds


def link_folder(folder: Path, names: list[str]) -> Path:
    """A data folder of links to the given films and their masks."""
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            link = folder / sub / f"{name}.png"
            if not link.exists():
                link.symlink_to((DATA / sub / f"{name}.png").resolve())
    return folder


def aspect_films(image: np.ndarray) -> dict[str, np.ndarray]:
    """The film at the originals' aspect ratio (the stored 512x512 films were squeezed from them)."""
    import cv2

    return {
        "portrait 4020x4892": cv2.resize(image, (512, 623), interpolation=cv2.INTER_AREA),
        "landscape 4892x4020": cv2.resize(image, (623, 512), interpolation=cv2.INTER_AREA),
    }


def score(checkpoint: Path, films: list[tuple[str, Path, Path]], shifts: bool) -> list[dict]:
    """Per film: evaluate's Dice, the product's Dice and (``shifts``) the product's Dice on altered films."""
    from lungseg.errors import InputError
    from lungseg.inference.core.predictor import Predictor
    from lungseg.inference.xray.film_segmenter import RadiographSegmenter
    from lungseg.io import read_image, read_mask
    from lungseg.metrics.functional import dice

    predictor = Predictor.load(checkpoint, backend="torch")
    segmenter = RadiographSegmenter(predictor)
    refused: dict[str, str] = {}

    def product(image: np.ndarray, label: str) -> np.ndarray:
        """The product's lung mask; a refused film ("no lung found") counts as an empty mask, and why."""
        try:
            return np.asarray(segmenter.segment(image).labels) > 0
        except InputError as error:
            refused[label] = str(error)
            return np.zeros(image.shape[:2], bool)

    rows = []
    for name, image_path, mask_path in films:
        image, truth = read_image(image_path), read_mask(mask_path)
        raw = predictor.predict([image])[0]
        row = {
            "name": name,
            "tb": is_tb(name),
            "dice": round(float(dice(raw, truth)), 4),
            "dice_product": round(float(dice(product(image, name), truth)), 4),
        }
        if shifts:
            variants = {**shifted_films(image), **aspect_films(image)}
            row["shifted"] = {
                label: round(float(dice(_back(product(v, f"{name} {label}"), truth.shape), truth)), 4)
                for label, v in variants.items()
            }
        if refused:
            row["refused"] = dict(refused)
            refused.clear()
        rows.append(row)
    return rows


def old4_films() -> list[tuple[str, Path, Path]]:
    return [
        (f"old-{p.stem}", p, OLD4 / "masks" / f"{p.stem}-mask.png") for p in sorted((OLD4 / "images").glob("*.jpg"))
    ]


def match_old4() -> dict:
    """Whether the 4 films of ``xray-lung-montgomery`` are among the 138: each film's lung box (from its
    mask) at 64x64, standardised, correlated with every one of the 138 (also mirrored). A copy would stand
    out near 1.0 above the rest; for reference, the nearest other film within the 138."""
    import cv2

    from lungseg.io import read_image, read_mask

    def box(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(mask > 0)
        crop = cv2.resize(
            image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32),
            (64, 64),
            interpolation=cv2.INTER_AREA,
        )
        return ((crop - crop.mean()) / crop.std()).ravel()

    names = film_names()
    films = np.stack(
        [box(read_image(DATA / "images" / f"{n}.png"), read_mask(DATA / "masks" / f"{n}.png")) for n in names]
    )
    within = films @ films.T / films.shape[1]
    np.fill_diagonal(within, -1)
    out = {"nearest_within_138_median": round(float(np.median(within.max(1))), 3)}
    for name, image_path, mask_path in old4_films():
        image, mask = read_image(image_path), read_mask(mask_path)
        best = max(
            (float(c), names[i], mirrored)
            for mirrored in (False, True)
            for i, c in enumerate(
                films @ box(image[:, ::-1] if mirrored else image, mask[:, ::-1] if mirrored else mask) / films.shape[1]
            )
        )
        out[name] = {"best": round(best[0], 3), "film": best[1], "mirrored": best[2]}
    return out


def train(recipe: Path, settings: list[str], folder: Path, run: Path) -> None:
    from lungseg.config.files import merge_config, parse_assignment
    from lungseg.training import train_run

    # one thread: the runs share 2 cores with other work, and two spinning threads then lose most of their
    # time waiting for each other (the results differ only by float rounding); --set train.threads=N
    values = {"train.threads": 1, **dict(parse_assignment(text, "--set") for text in settings)}
    values["data.data"] = str(folder)
    config = merge_config(recipe, values)
    if not _finished(run, config.train.epochs):
        train_run(config, run, resume=(run / "last.pt").exists(), log=lambda line: None)


def mean_sd(values) -> list[float | None]:
    values = np.asarray(list(values), dtype=float)
    return [round(float(values.mean()), 4), round(float(values.std(ddof=1)), 4) if len(values) > 1 else None]


def summarise(rows: list[dict]) -> dict:
    """Means over films: all, normal and TB apart."""
    out = {}
    for subset, chosen in (
        ("all", rows),
        ("normal", [r for r in rows if not r["tb"]]),
        ("tb", [r for r in rows if r["tb"]]),
    ):
        if chosen:
            out[subset] = {
                "n": len(chosen),
                "dice": mean_sd(r["dice"] for r in chosen),
                "dice_product": mean_sd(r["dice_product"] for r in chosen),
                "refused": sum(r["name"] in r.get("refused", {}) for r in chosen),
            }
    return out


def cross_validate(args, names: list[str]) -> dict:
    folds = fold_of(names, args.k)
    chosen = [int(f) for f in args.folds.split(",")] if args.folds else list(range(args.k))
    base = args.out / args.tag
    for fold in chosen:  # train every fold first, then score (scoring can be rerun alone)
        started = time.perf_counter()
        folder = link_folder(base / f"data-{fold}", [n for n in names if folds[n] != fold])
        train(args.recipe, args.settings, folder, base / f"fold-{fold}")
        print(f"fold {fold}: trained in {time.perf_counter() - started:.0f} s", flush=True)
    per_fold, films = [], []
    for fold in chosen:
        run = base / f"fold-{fold}"
        held = [(n, DATA / "images" / f"{n}.png", DATA / "masks" / f"{n}.png") for n in names if folds[n] == fold]
        rows = score(run / "best.pt", held, shifts=True)
        old = score(run / "best.pt", old4_films(), shifts=False)
        films += rows
        entry = {
            "fold": fold,
            **summarise(rows),
            "old4_dice": mean_sd(r["dice"] for r in old)[0],
            "train_seconds": _train_seconds(run),
        }
        per_fold.append(entry)
        print(
            f"fold {fold}: Dice {entry['all']['dice'][0]:.4f} (product {entry['all']['dice_product'][0]:.4f}), "
            f"TB {entry['tb']['dice'][0]:.4f}, normal {entry['normal']['dice'][0]:.4f}, "
            f"old 4 films {entry['old4_dice']:.4f}",
            flush=True,
        )
    over_folds = {
        key: mean_sd(f[s][m][0] for f in per_fold)
        for s in ("all", "normal", "tb")
        for m in ("dice", "dice_product")
        for key in [f"{s}_{m}"]
    }
    over_folds["old4_dice"] = mean_sd(f["old4_dice"] for f in per_fold)
    shifted = {label: mean_sd(r["shifted"][label] for r in films) for label in films[0]["shifted"]}
    return {
        "k": args.k,
        "folds": chosen,
        "per_fold": per_fold,
        "over_folds": over_folds,
        "old4_match": match_old4(),
        "films": films,
        "shifted_mean": shifted,
        "worst": sorted(films, key=lambda r: r["dice"])[:5],
    }


def shift(args, names: list[str]) -> dict:
    out = {}
    for train_on, test_on in (("normal", "tb"), ("tb", "normal")):
        run = args.out / args.tag / f"train-{train_on}"
        folder = link_folder(
            args.out / args.tag / f"data-{train_on}", [n for n in names if is_tb(n) == (train_on == "tb")]
        )
        train(args.recipe, args.settings, folder, run)
        held = [
            (n, DATA / "images" / f"{n}.png", DATA / "masks" / f"{n}.png")
            for n in names
            if is_tb(n) == (test_on == "tb")
        ]
        rows = score(run / "best.pt", held, shifts=False)
        out[f"{train_on}->{test_on}"] = {
            "trained_on": len(names) - len(held),
            **summarise(rows)[test_on],
            "train_seconds": _train_seconds(run),
        }
        print(
            f"trained on {train_on} films, scored on {test_on}: Dice {out[f'{train_on}->{test_on}']['dice'][0]:.4f}",
            flush=True,
        )
    return out


def score_all(model: str, names: list[str]) -> dict:
    rows = score(
        Path(model), [(n, DATA / "images" / f"{n}.png", DATA / "masks" / f"{n}.png") for n in names], shifts=False
    )
    print(f"{model} on all {len(rows)} films: Dice {np.mean([r['dice'] for r in rows]):.4f}", flush=True)
    return {"model": model, **summarise(rows), "worst": sorted(rows, key=lambda r: r["dice"])[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=ROOT / "recipes" / "xray-lung.yaml", type=Path)
    parser.add_argument("--set", dest="settings", action="append", default=[], help="SECTION.KEY=VALUE")
    parser.add_argument("--tag", default="recipe")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--folds", default=None, help="a subset of folds, e.g. 0,1 (default: all k)")
    parser.add_argument("--shift", action="store_true", help="normal -> TB and TB -> normal instead of the CV")
    parser.add_argument("--score", metavar="MODEL", help="score this checkpoint on all films, no training")
    parser.add_argument("--out", default=ROOT / "runs" / "xray-cv", type=Path)
    args = parser.parse_args()
    names = film_names()
    key = f"{args.tag}-shift" if args.shift else args.tag
    summary = {
        "recipe": str(args.recipe.relative_to(ROOT)) if args.recipe.is_relative_to(ROOT) else str(args.recipe),
        "settings": args.settings,
    }
    if args.score:
        summary = score_all(args.score, names)
    else:
        summary.update(shift(args, names) if args.shift else cross_validate(args, names))
    if not args.shift and not args.score:
        o = summary["over_folds"]
        print(
            f"{key}: {args.k}-fold Dice {o['all_dice'][0]:.4f} ± {o['all_dice'][1] or 0:.4f} (product "
            f"{o['all_dice_product'][0]:.4f}); TB {o['tb_dice'][0]:.4f}, normal {o['normal_dice'][0]:.4f}; "
            f"old 4 films {o['old4_dice'][0]:.4f}"
        )
        print(
            "shifted films (product Dice, mean ± sd over films): "
            + ", ".join(f"{k} {v[0]:.4f}±{v[1]:.4f}" for k, v in summary["shifted_mean"].items())
        )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[key] = summary
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
