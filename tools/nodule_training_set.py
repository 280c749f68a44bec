"""The lung-nodule training folder: the LIDC-IDRI nodule crops plus crops WITHOUT a nodule, so the model
learns that a vessel, a fissure or plain lung at the centre of a crop is not a nodule.

    .venv/bin/python tools/nodule_training_set.py runs/lung-nodule-data [--per-slice 4] [--patients P,...]

Negatives: 128x128 crops of the kmader CT slices of the shipped ct-lung model's TRAINING split (its test
split stays for counting false candidates), centred at random points inside the lungs, half of them on
soft-tissue density (HU >= -300: vessels, mostly) and half anywhere in the lung; rendered to 8 bits
through the nodule recipe's export window, with empty masks. Named ``kmader-IDnnnn_neg-k`` (grouped by
slice ID: the recipe's group pattern keeps each slice's crops in one fold). The LIDC crops are linked, not
copied. ``--patients`` limits the LIDC crops to those patients (cross-validation folds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
LIDC = SHARED / "ct-nodule-lidc"
KMADER = SHARED / "ct-lung-kmader"
CROP = 128


def negatives(out: Path, per_slice: int, seed: int = 0) -> int:
    import torch
    from scipy import ndimage

    from lungseg.config.files import load_config
    from lungseg.io import read_image, read_mask, write_png
    from lungseg.preprocessing import apply_window

    recipe = load_config(REPO / "recipes" / "lung-nodule.yaml").preprocess
    split = torch.load(REPO / "src" / "lungseg" / "weights" / "ct-lung.pt", map_location="cpu", weights_only=True)
    train = sorted(split["split"]["train"])
    rng = np.random.default_rng(seed)
    written = 0
    for name in train:
        path = next((KMADER / "images").glob(f"{Path(name).stem}.*"))
        hu = read_image(path).astype(np.float32)
        lung = ndimage.binary_erosion(read_mask(KMADER / "masks" / path.name) > 0, iterations=3)
        lung[: CROP // 2], lung[-CROP // 2 :], lung[:, : CROP // 2], lung[:, -CROP // 2 :] = False, False, False, False
        dense = lung & (hu >= -300)
        padded = np.pad(hu, CROP, constant_values=-1000.0)
        for k in range(per_slice):
            pool = dense if k % 2 == 0 and dense.any() else lung
            ys, xs = np.nonzero(pool)
            if not len(ys):
                break
            pick = rng.integers(len(ys))
            y, x = ys[pick] + CROP, xs[pick] + CROP
            crop = padded[y - CROP // 2 : y + CROP // 2, x - CROP // 2 : x + CROP // 2]
            gray = np.rint(apply_window(crop, recipe.export_center, recipe.export_width) * 255).astype(np.uint8)
            stem = f"kmader-{path.stem.split('_Z_')[0].replace('_', '')}_neg-{k}"
            write_png(out / "images" / f"{stem}.png", gray)
            write_png(out / "masks" / f"{stem}.png", np.zeros_like(gray))
            written += 1
    return written


def link_lidc(out: Path, patients: set[str] | None) -> int:
    linked = 0
    for image in sorted((LIDC / "images").glob("*.png")):
        if patients is not None and image.stem.split("_")[0] not in patients:
            continue
        for sub in ("images", "masks"):
            link = out / sub / image.name
            if not link.exists():
                link.symlink_to((LIDC / sub / image.name).resolve())
        linked += 1
    return linked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-slice", type=int, default=4)
    parser.add_argument("--patients", default=None, help="comma-separated LIDC patients (default: all)")
    parser.add_argument(
        "--without-fold",
        type=int,
        default=None,
        help="leave out the patients of this fold of benchmarks/nodule_cv.py (5 folds): the shipped model is that "
        "fold's model, so its held-out score is the fold's",
    )
    args = parser.parse_args()
    for sub in ("images", "masks"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    patients = set(args.patients.split(",")) if args.patients else None
    if args.without_fold is not None:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from nodule_cv import crop_index, fold_of

        folds = fold_of(sorted({row["patient"] for row in crop_index()}), 5)
        patients = {patient for patient, fold in folds.items() if fold != args.without_fold} & (patients or set(folds))
    crops = link_lidc(args.out, patients)
    made = negatives(args.out, args.per_slice)
    print(f"{args.out}: {crops} LIDC crops linked, {made} negative crops written", file=sys.stderr)


if __name__ == "__main__":
    main()
