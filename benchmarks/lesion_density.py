"""Measure what the lesion density rule (``lungseg.inference.lesions.density``) rests on.

    .venv/bin/python benchmarks/lesion_density.py [--data ../shared/data]

- POPI (HU) through ``lung-tumor``: every tumour component the model reported (before the rule), its
  size, mean HU and share of voxels below -300 HU, and whether the rule removes it. ``lung-tumor`` is
  retired (issue 25; ``lung-nodule`` replaces it), so this part cannot run any more: the rows recorded
  in the results file (``popi_lung_tumor``) are history, carried over unchanged.
- The MSD tumour exports (8-bit, export window -5..225 HU): per slice the lung and soft-tissue grays
  the 8-bit rule uses (None where the export clips the lungs to its floor, so density cannot be told),
  and the share of the reference tumour mask at lung gray (pixels at the floor when the lungs are
  clipped). The lung gray is now taken over the whole lung mask (the retired model's components are no
  longer left out of it), and its predicted components' shares (``predicted_shares_at_lung_gray``) are
  kept from the results file, not measured again.

Prints both tables and writes benchmarks/results/lesion_density.json (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lungseg.io.shipped import RETIRED

RESULT = Path(__file__).parent / "results" / "lesion_density.json"


def msd(data: Path) -> list[dict]:
    from lungseg.inference import Segmenter
    from lungseg.inference.lesions.density import _slice_levels
    from lungseg.io.masks import read_mask_array

    segmenter = Segmenter.from_pretrained("ct-lung", tta=False)
    root = data / "lung-tumor-msd"
    rows = []
    for path in sorted((root / "images").glob("*.png")):
        result = segmenter.segment(path)
        picture, lungs = result.canonical_hu, result.canonical_labels
        reference = read_mask_array(root / "masks" / path.name)[None] > 0
        levels = _slice_levels(picture, lungs > 0)[0]
        cut = float(levels.mean()) if not np.isnan(levels).any() else float(picture.min()) + 0.5
        rows.append(
            {
                "image": path.name,
                "lung_gray": None if np.isnan(levels[0]) else float(levels[0]),
                "soft_gray": None if np.isnan(levels[1]) else float(levels[1]),
                "reference_pixels": int(reference.sum()),
                "reference_share_at_lung_gray": round(float(np.mean(picture[reference] < cut)), 3),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    args = parser.parse_args()
    print(f"lung-tumor: {RETIRED['lung-tumor']}; its recorded rows are kept as history")
    history = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    recorded = {row["image"]: row for row in history.get("msd_exports", [])}
    result = {
        "command": "benchmarks/lesion_density.py",
        "popi_lung_tumor_command": history.get("popi_lung_tumor_command", history.get("command")),
        "popi_lung_tumor": history.get("popi_lung_tumor", []),
        "msd_exports": [{**recorded.get(row["image"], {}), **row} for row in msd(args.data)],
    }
    print("POPI through lung-tumor (recorded before it was retired): voxels  mL  mean HU  share < -300 HU  removed")
    for row in result["popi_lung_tumor"]:
        print(
            f"  {row['voxels']:6d} {row['ml']:6.2f} {row['mean_hu']:6d} {row['share_below_-300_hu']:6.2f}  "
            f"{row['removed']}"
        )
    print("MSD exports: image  lung gray  soft gray  reference share at lung gray  predicted")
    for row in result["msd_exports"]:
        print(
            f"  {row['image']:14s} {row['lung_gray']!s:6s} {row['soft_gray']!s:6s} "
            f"{row['reference_share_at_lung_gray']:5.2f}  {row.get('predicted_shares_at_lung_gray', '-')}"
        )
    RESULT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
