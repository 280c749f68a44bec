"""Measure what the lesion density rule (``lungseg.inference.lesions.density``) rests on.

    .venv/bin/python benchmarks/lesion_density.py [--data ../shared/data] [--tta]

- POPI (HU) through ``lung-tumor``: every tumour component the model reports (before the rule), its
  size, mean HU and share of voxels below -300 HU, and whether the rule removes it.
- The MSD tumour exports (8-bit, export window -5..225 HU): per slice the lung and soft-tissue grays
  the 8-bit rule uses (None where the export clips the lungs to its floor, so density cannot be told),
  and the share of the reference tumour mask at lung gray (pixels at the floor when the lungs are
  clipped), with the predicted components' shares.

Prints both tables and writes benchmarks/results/lesion_density.json (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "lesion_density.json"


def popi(data: Path, tta: bool) -> list[dict]:
    from scipy import ndimage

    from lungseg.inference import Segmenter
    from lungseg.inference.core.checks import AERATED_HU
    from lungseg.inference.lesions.density import AERATED_SHARE
    from lungseg.inference.lesions.model import component_structure

    segmenter = Segmenter.from_pretrained("lung-tumor", tta=tta)
    lungs = segmenter.replace(lesions=()).segment(data / "ct-volume-popi" / "dicom")
    model = segmenter.lesions[0]
    found = model.find(
        lungs.canonical_hu, lungs.canonical_labels, lungs.canonical_spacing, segmenter.lesion_options, tta
    )
    components, count = ndimage.label(found > 0, component_structure(True))
    voxel_ml = float(np.prod(lungs.canonical_spacing)) / 1000.0
    rows = []
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        values = lungs.canonical_hu[box][components[box] == index]
        share = float(np.mean(values < AERATED_HU))
        rows.append(
            {
                "voxels": int(values.size),
                "ml": round(values.size * voxel_ml, 2),
                "mean_hu": round(float(values.mean())),
                "share_below_-300_hu": round(share, 3),
                "slices": [box[0].start, box[0].stop - 1],
                "removed": share > AERATED_SHARE,
            }
        )
    return rows


def msd(data: Path) -> list[dict]:
    from scipy import ndimage

    from lungseg.inference import Segmenter
    from lungseg.inference.lesions.density import _slice_levels
    from lungseg.io.masks import read_mask_array

    segmenter = Segmenter.from_pretrained("lung-tumor", tta=False)
    model = segmenter.lesions[0]
    root = data / "lung-tumor-msd"
    rows = []
    for path in sorted((root / "images").glob("*.png")):
        result = segmenter.replace(lesions=()).segment(path)
        picture, lungs = result.canonical_hu, result.canonical_labels
        reference = read_mask_array(root / "masks" / path.name)[None] > 0
        found = model.find(picture, lungs, None, segmenter.lesion_options)
        levels = _slice_levels(picture, (lungs > 0) & (found == 0))[0]
        cut = float(levels.mean()) if not np.isnan(levels).any() else float(picture.min()) + 0.5
        predicted, count = ndimage.label(found[0] > 0)
        rows.append(
            {
                "image": path.name,
                "lung_gray": None if np.isnan(levels[0]) else float(levels[0]),
                "soft_gray": None if np.isnan(levels[1]) else float(levels[1]),
                "reference_pixels": int(reference.sum()),
                "reference_share_at_lung_gray": round(float(np.mean(picture[reference] < cut)), 3),
                "predicted_shares_at_lung_gray": [
                    round(float(np.mean(picture[0][predicted == i] < cut)), 3) for i in range(1, count + 1)
                ],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--tta", action="store_true", help="flip TTA for the POPI run (as lungseg predict does)")
    args = parser.parse_args()
    result = {
        "command": "benchmarks/lesion_density.py" + (" --tta" if args.tta else ""),
        "popi_lung_tumor": popi(args.data, args.tta),
        "msd_exports": msd(args.data),
    }
    print("POPI through lung-tumor: voxels  mL  mean HU  share < -300 HU  removed")
    for row in result["popi_lung_tumor"]:
        print(
            f"  {row['voxels']:6d} {row['ml']:6.2f} {row['mean_hu']:6d} {row['share_below_-300_hu']:6.2f}  "
            f"{row['removed']}"
        )
    print("MSD exports: image  lung gray  soft gray  reference share at lung gray  predicted")
    for row in result["msd_exports"]:
        print(
            f"  {row['image']:14s} {row['lung_gray']!s:6s} {row['soft_gray']!s:6s} "
            f"{row['reference_share_at_lung_gray']:5.2f}  {row['predicted_shares_at_lung_gray']}"
        )
    RESULT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
