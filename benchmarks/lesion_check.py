"""What the shipped lesion and 8-bit lung models do on scans they were not trained on, with pictures.

    .venv/bin/python benchmarks/lesion_check.py [--out benchmarks/results/lesions]

1. ``covid-infection`` and ``covid-infection-types`` on the 20 kmader test slices (healthy lungs, HU):
   lesion share per lung (expected near 0), and an overlay of the slice with the most.
2. The lung field for 8-bit exports: ``--model ct-lung`` on the kmader test slices rendered through fixed
   windows (the ``ct-lung-8bit`` variant takes them) -> Dice against the masks, per window.

``lung-tumor`` (POPI through ``--lesions lung-tumor``, and its false tumours on the healthy slices) is
retired (issue 25; ``lung-nodule`` replaces it) and cannot run any more: its figures recorded in
``OUT/lesion_check.json`` (``popi_tumour``, the ``lung-tumor`` row) and the popi-tumour / kmader-lung-tumor
files are history, carried over unchanged when the script is run again.

Prints tables and writes ``OUT/lesion_check.json`` plus the overlays under ``OUT``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lungseg.io.shipped import RETIRED

REPO = Path(__file__).resolve().parents[1]
WINDOWS = {
    "lung L-600/W1500": (-600.0, 1500.0),
    "covid exports L-380/W1170": (-380.0, 1170.0),
    "mediastinal L40/W400": (40.0, 400.0),
    "MSD exports L110/W230": (110.0, 230.0),
}


def test_slices(kmader: Path) -> list[Path]:
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    split = load_checkpoint(resolve_model("ct-lung")).card.split
    return [next((kmader / "images").glob(f"{name}.*")) for name in split.test]


def lesions_on_healthy(slices: list[Path], out: Path) -> dict:
    from lungseg.inference import Segmenter
    from lungseg.inference.batch.targets import Target
    from lungseg.inference.core.pipeline import report_header
    from lungseg.inference.core.study import load_study
    from lungseg.inference.outputs.files import write_outputs
    from lungseg.io import staged_writes

    rows = {}
    for model in ("covid-infection", "covid-infection-types"):  # lung-tumor: retired (module docstring)
        segmenter = Segmenter.from_pretrained(model)
        results = [(path, segmenter.segment(load_study(path))) for path in slices]
        affected = [max(percent for percent, _ in r.lesions.lungs.values()) for _, r in results]
        any_lesion = [sum(size.voxels for _, size, _ in r.lesions.classes) > 0 for _, r in results]
        rows[model] = {
            "slices": len(slices),
            "slices_with_any_lesion": int(sum(any_lesion)),
            "percent_of_lung_mean": round(float(np.mean(affected)), 2),
            "percent_of_lung_max": round(float(np.max(affected)), 2),
        }
        worst_path, worst = results[int(np.argmax(affected))]
        target = Target(worst_path, out / f"kmader-{model}-{worst_path.stem}.png", "png")
        with staged_writes() as stage:
            write_outputs(worst, target, True, False, model, report_header(segmenter, model, 0.0), stage)
    return rows


def lungs_in_exports(slices: list[Path], kmader: Path, out: Path) -> dict:
    from PIL import Image

    sys.path.insert(0, str(REPO / "tools"))
    from lungseg.inference import Segmenter
    from lungseg.io import read_image
    from lungseg.io.masks import read_mask_array
    from lungseg.metrics import dice
    from render_8bit import window_8bit

    segmenter = Segmenter.from_pretrained("ct-lung")
    rows = {}
    for window, (center, width) in WINDOWS.items():
        scores, used = [], set()
        for path in slices:
            export = window_8bit(read_image(path), center, width)
            result = segmenter.segment(export, source=f"{path.stem} ({window})")
            used.update(result.models)
            truth = read_mask_array(kmader / "masks" / path.name) > 0
            scores.append(dice(np.asarray(result.labels) > 0, truth))
        rows[window] = {
            "dice_mean": round(float(np.mean(scores)), 4),
            "dice_min": round(float(np.min(scores)), 4),
            "n": len(scores),
            "models": sorted(used),
        }
        if window.startswith("mediastinal"):
            Image.fromarray(export).save(out / "kmader-export-mediastinal.png")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="../shared/data", type=Path)
    parser.add_argument("--out", default="benchmarks/results/lesions", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    kmader = args.shared / "ct-lung-kmader"
    slices = test_slices(kmader)
    print(f"lung-tumor: {RETIRED['lung-tumor']}; its recorded figures are kept as history")
    recorded = args.out / "lesion_check.json"
    history = json.loads(recorded.read_text()) if recorded.is_file() else {}
    healthy = lesions_on_healthy(slices, args.out)
    if "lung-tumor" in history.get("healthy_kmader_test_slices", {}):
        healthy["lung-tumor"] = history["healthy_kmader_test_slices"]["lung-tumor"]
    results = {
        **({"popi_tumour": history["popi_tumour"]} if "popi_tumour" in history else {}),
        "healthy_kmader_test_slices": healthy,
        "lungs_in_8bit_exports": lungs_in_exports(slices, kmader, args.out),
    }
    print(f"{'model on healthy kmader test slices':40} {'with lesion':>12} {'mean %':>8} {'max %':>8}")
    for model, row in results["healthy_kmader_test_slices"].items():
        shown = f"{model} (recorded, retired)" if model in RETIRED else model
        print(
            f"{shown:40} {row['slices_with_any_lesion']:>6}/{row['slices']:<5} {row['percent_of_lung_mean']:8.2f} "
            f"{row['percent_of_lung_max']:8.2f}"
        )
    print(f"{'8-bit export window':30} {'Dice mean':>10} {'Dice min':>9}  model")
    for window, row in results["lungs_in_8bit_exports"].items():
        print(f"{window:30} {row['dice_mean']:10.4f} {row['dice_min']:9.4f}  {', '.join(row['models'])}")
    (args.out / "lesion_check.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
