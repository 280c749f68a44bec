"""False candidates of the automatic nodule search on scans without labelled nodules: the POPI chest CT
series and the kmader CT slices of ct-lung's test split (never among lung-nodule's training negatives).

    .venv/bin/python benchmarks/nodule_candidates.py [--model lung-nodule] [--tag NAME] [--looks DIR]

Each scan goes through ``lungseg nodule SCAN --candidates`` (``segment_nodules(..., candidates=True)``: the
shipped ct-lung lungs, the nodule model in windows over them). Neither set has nodule labels: every
candidate is counted, and the overlays (``--looks``, default ``runs/nodule-candidates``) are there to say
what the candidates are. Prints a table and writes ``benchmarks/results/nodule_candidates.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "nodule_candidates.json"


def kmader_test() -> list[Path]:
    import torch

    shipped = torch.load(ROOT / "src" / "lungseg" / "weights" / "ct-lung.pt", map_location="cpu", weights_only=True)
    names = sorted(shipped["split"]["test"])
    return [next((SHARED / "ct-lung-kmader" / "images").glob(f"{Path(n).stem}.*")) for n in names]


def main() -> None:
    from lungseg.inference.nodules import NoduleSegmenter
    from lungseg.inference.nodules.report import write_nodule_outputs
    from lungseg.inference.nodules.study import segment_nodules
    from lungseg.inference.routing.load import load_segmenter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lung-nodule")
    parser.add_argument("--tag", default="lung-nodule")
    parser.add_argument("--looks", default=ROOT / "runs" / "nodule-candidates", type=Path)
    args = parser.parse_args()
    segmenter = NoduleSegmenter.load(args.model, backend="torch")
    lungs = load_segmenter("ct-lung", backend="torch")
    scans = [("popi", SHARED / "ct-volume-popi" / "dicom"), *(("kmader", p) for p in kmader_test())]
    rows = []
    for kind, path in scans:
        started = time.perf_counter()
        result = segment_nodules(path, [], segmenter=segmenter, lung_model=lungs, candidates=True)
        write_nodule_outputs(result, args.looks / args.tag / path.stem, args.model)
        found = result.candidates.found if result.candidates else ()
        rows.append(
            {
                "set": kind,
                "scan": path.stem,
                "candidates": len(found),
                "removed_aerated": result.candidates.removed_aerated if result.candidates else None,
                "probabilities": [round(c.probability, 3) for c in found],
                "long_axes_mm": [round(c.measures.diameters.long_mm, 1) for c in found],
                "mean_hu": [None if c.measures.mean_hu is None else round(c.measures.mean_hu) for c in found],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(f"{kind:7s} {path.stem:22s} {len(found):3d} candidates  {rows[-1]['seconds']:6.1f} s", flush=True)
    summary = {}
    for kind in ("popi", "kmader"):
        chosen = [r["candidates"] for r in rows if r["set"] == kind]
        summary[kind] = {
            "scans": len(chosen),
            "candidates_mean": round(float(np.mean(chosen)), 2),
            "scans_with_any": sum(c > 0 for c in chosen),
            "candidates_total": int(sum(chosen)),
        }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.tag] = {"model": args.model, "summary": summary, "scans": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
