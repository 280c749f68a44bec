"""How far from the crop centre the shipped lung-nodule model still finds a nodule: the held-out crops of
patient-grouped CV fold 0 (the shipped model is that fold's model), each moved sideways by 0-32 pixels
(the gap filled with air, as past a scan's edge), scored as ``lungseg evaluate`` scores crops.

    .venv/bin/python benchmarks/nodule_offset.py [--model lung-nodule] [--fold 0] [--out FILE.json]

Prints a table and writes ``benchmarks/results/nodule_offset.json``: per offset the mean Dice against the
consensus and the mean of the highest probability inside the (moved) consensus. The automatic candidate
search tiles the lungs with windows every 48 crop pixels, so a nodule can lie up to 24 pixels from every
window's centre on each axis.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nodule_cv import DATA, ROOT, crop_index, dice_of, fold_of  # noqa: E402  (a sibling script)

RESULTS = ROOT / "benchmarks" / "results" / "nodule_offset.json"
OFFSETS = (0, 8, 16, 24, 32)


def main() -> None:
    from lungseg.inference.core.predictor import Predictor
    from lungseg.io import read_image, read_mask

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lung-nodule")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--out", default=RESULTS, type=Path)
    args = parser.parse_args()
    rows = crop_index()
    folds = fold_of(sorted({r["patient"] for r in rows}), 5)
    held_out = [r for r in rows if folds[r["patient"]] == args.fold]
    predictor = Predictor.load(args.model, backend="torch")
    table = []
    for offset in OFFSETS:
        dice, peak = [], []
        for row in held_out:
            gray = read_image(DATA / "images" / f"{row['id']}.png").astype(np.float32)
            truth = read_mask(DATA / "masks" / f"{row['id']}.png") > 0
            hu = gray / 255.0 * 2000.0 - 1000.0  # back through the recipe's export window
            moved, moved_truth = np.full_like(hu, -1000.0), np.zeros_like(truth)
            moved[:, offset:], moved_truth[:, offset:] = hu[:, : 128 - offset], truth[:, : 128 - offset]
            if not moved_truth.any():
                continue
            probability = predictor.probabilities([moved])[0]
            dice.append(dice_of(probability > predictor.threshold, moved_truth))
            peak.append(float(probability[moved_truth].max()))
        entry = {"offset_px": offset, "crops": len(dice), "dice": round(float(np.mean(dice)), 3)}
        table.append({**entry, "peak": round(float(np.mean(peak)), 3)})
        print(f"offset {offset:2d} px: Dice {entry['dice']:.3f}  peak probability {table[-1]['peak']:.3f}", flush=True)
    args.out.write_text(json.dumps({"model": str(args.model), "fold": args.fold, "offsets": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
