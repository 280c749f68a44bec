"""The pre-training folder of the semi-supervised COVID-19 infection model: the 1,600 PSEUDO-labelled
slices of 20 volumes (``covid-infection-pseudo``, linked, not copied) plus lung-cropped slices of healthy
lungs with empty masks, so the model learns that normal dependent density is not infection.

    .venv/bin/python tools/covid_pretrain_set.py runs/covid-pretrain-data [--copies 2] [--train runs/covid-pretrain]

``--train RUN`` then runs stage 1 of the semi-supervised model on that folder
(``lungseg train --config recipes/covid-infection-pretrain.yaml``, skipped when ``RUN/best.pt`` exists);
stage 2 is ``recipes/covid-infection.yaml``, which starts from ``RUN/best.pt``.

Negatives: the kmader slices of the shipped ct-lung model's TRAINING and VALIDATION splits (its test split
and the POPI volume stay unseen: the share of lung called infected is measured on them), cropped to the
lungs' bounding box plus 2..30 px and rendered through the COVID-19 exports' window (L-380/W1170,
``benchmarks/export_window.py``) with the level +-60 HU and the width x0.9..1.1, saved as JPEG q 75..95
like the pseudo slices; named ``kmader-ID_nnnn_Z_zzzz_nK``. The recipe's group pattern
``^(Data-1_.+(?=_\\d+$)|kmader-ID_\\d+)`` keeps each volume's slices (and each kmader patient's) together.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
PSEUDO = SHARED / "covid-infection-pseudo"
KMADER = SHARED / "ct-lung-kmader"
WINDOW = (-380.0, 1170.0)
GROUPS = r"^(Data-1_.+(?=_\d+$)|kmader-ID_\d+)"


def link_pseudo(out: Path) -> int:
    count = 0
    for image in sorted((PSEUDO / "images").glob("*.jpg")):
        for sub, source in (("images", image), ("masks", PSEUDO / "masks" / f"{image.stem}.png")):
            link = out / sub / source.name
            if not link.exists():
                link.symlink_to(source.resolve())
        count += 1
    return count


def render_negative(hu: np.ndarray, lung: np.ndarray, rng: random.Random) -> np.ndarray:
    """A lung-cropped 8-bit rendering of a HU slice (module docstring)."""
    from lungseg.preprocessing import apply_window

    center, width = WINDOW[0] + rng.uniform(-60, 60), WINDOW[1] * rng.uniform(0.9, 1.1)
    rows, cols = np.flatnonzero(lung.any(1)), np.flatnonzero(lung.any(0))
    margin = rng.randint(2, 30)
    top, left = max(rows[0] - margin, 0), max(cols[0] - margin, 0)
    crop = hu[top : rows[-1] + margin + 1, left : cols[-1] + margin + 1]
    return np.rint(apply_window(crop, center, width) * 255).astype(np.uint8)


def negatives(out: Path, copies: int, seed: int = 0) -> int:
    import torch
    from PIL import Image

    from lungseg.io import read_image
    from lungseg.io.masks import read_mask_array

    split = torch.load(REPO / "src" / "lungseg" / "weights" / "ct-lung.pt", map_location="cpu", weights_only=True)
    names = sorted(split["split"]["train"] + split["split"]["val"])
    rng = random.Random(seed)
    written = 0
    for name in names:
        hu = np.asarray(read_image(KMADER / "images" / f"{name}.tif"), np.float32)
        lung = read_mask_array(KMADER / "masks" / f"{name}.tif") > 0
        if lung.sum() < 2000:
            continue
        for k in range(copies):
            gray = render_negative(hu, lung, rng)
            stem = f"kmader-{name}_n{k}"
            Image.fromarray(gray).save(out / "images" / f"{stem}.jpg", quality=rng.randint(75, 95))
            Image.fromarray(np.zeros_like(gray)).save(out / "masks" / f"{stem}.png")
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=2, help="renderings per healthy kmader slice")
    parser.add_argument("--no-negatives", action="store_true", help="the pseudo slices only")
    parser.add_argument("--train", type=Path, help="run stage 1 (the pre-training) into this run folder")
    args = parser.parse_args()
    for sub in ("images", "masks"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    linked = link_pseudo(args.out)
    made = 0 if args.no_negatives else negatives(args.out, args.copies)
    print(f"{args.out}: {linked} pseudo-labelled slices linked, {made} healthy lung crops with empty masks")
    if args.train and not (args.train / "best.pt").is_file():
        import subprocess
        import sys

        recipe = REPO / "recipes" / "covid-infection-pretrain.yaml"
        command = ["-m", "lungseg", "train", "--config", str(recipe), "--images", str(args.out / "images")]
        command += ["--masks", str(args.out / "masks"), "--out", str(args.train)]
        subprocess.run([sys.executable, *command], check=True)


if __name__ == "__main__":
    main()
