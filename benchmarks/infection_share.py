"""How much healthy lung a COVID-19 infection model calls infected: the share of lung volume on the POPI
chest CT (a volume, HU) and on the 20 kmader test slices (HU), neither of which any candidate trained on.

    .venv/bin/python benchmarks/infection_share.py --model covid-infection --model runs/covid-semi/best.pt \
        [--tag NAME ...] [--out benchmarks/results/infection_share.json]

Each model runs as ``lungseg predict --lesions MODEL`` runs it (lungs by ct-lung, the lesion model inside
them through its stored export window). Rows are merged into the JSON by tag (default: the model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"


def share(result) -> float:
    """Percent of the lung volume (both lungs, lesions inside them included; airways not) labelled as a lesion."""
    from lungseg.labels import AIRWAY

    labels = np.asarray(result.canonical_labels)
    lesion_values = [c.value for c in result.classes if c.value not in (1, 2, AIRWAY.value)]
    lesion = int(np.isin(labels, lesion_values).sum())
    lung = int(np.isin(labels, [1, 2]).sum()) + lesion
    return 100.0 * lesion / max(lung, 1)


def measure(model: str) -> dict:
    from lungseg.inference import Segmenter
    from lungseg.inference.core.study import load_study
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    segmenter = Segmenter.from_pretrained("ct-lung", lesions=[model])
    popi = segmenter.segment(load_study(SHARED / "ct-volume-popi" / "dicom"))
    split = load_checkpoint(resolve_model("ct-lung")).card.split
    kmader = [
        share(segmenter.segment(load_study(SHARED / "ct-lung-kmader" / "images" / f"{n}.tif"))) for n in split.test
    ]
    return {
        "model": model,
        "popi_percent_of_lung": round(share(popi), 2),
        "kmader_test_percent_mean": round(float(np.mean(kmader)), 2),
        "kmader_test_percent_max": round(float(np.max(kmader)), 2),
        "kmader_test_slices_over_1_percent": int(sum(value > 1.0 for value in kmader)),
        "kmader_test_slices": len(kmader),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="shipped name or checkpoint (repeat)")
    parser.add_argument("--tag", action="append", help="a name per --model for the JSON (default: the model)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "infection_share.json")
    args = parser.parse_args()
    tags = args.tag or args.model
    if len(tags) != len(args.model):
        parser.error("give one --tag per --model")
    table = json.loads(args.out.read_text()) if args.out.is_file() else {}
    print(f"{'tag':28} {'POPI % of lung':>15} {'kmader mean %':>14} {'max %':>7} {'slices > 1 %':>13}")
    for tag, model in zip(tags, args.model):
        row = measure(model)
        table[tag] = row
        print(
            f"{tag:28} {row['popi_percent_of_lung']:15.2f} {row['kmader_test_percent_mean']:14.2f} "
            f"{row['kmader_test_percent_max']:7.2f} "
            f"{row['kmader_test_slices_over_1_percent']:>8}/{row['kmader_test_slices']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
