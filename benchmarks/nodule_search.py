"""The shipped two-stage nodule search on held-out LIDC nodules: ``lung-nodule-search`` (trained with the
nodule anywhere in the window) finds, ``lung-nodule`` (the centred point model) confirms and outlines each
candidate from its centre. Both are patient-grouped CV fold 0's models, so fold 0's 33 patients are unseen.

    .venv/bin/python benchmarks/nodule_search.py

The same seeded sample of 25 held-out nodules as ``nodule_cv.py``'s detection column (each nodule's crops
stacked as a small volume, the whole stack as the lung field): found when a candidate overlaps the
consensus; other candidates per stack counted. Rows: the centred model alone, the search model alone, and
the two stages. Candidates on scans without nodules: ``nodule_candidates.py``. Writes
``benchmarks/results/nodule_search.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nodule_cv import ROOT, crop_index, detection, fold_of  # noqa: E402  (a sibling script)

WEIGHTS = ROOT / "src" / "lungseg" / "weights"
RESULTS = ROOT / "benchmarks" / "results" / "nodule_search.json"


def main() -> None:
    rows = crop_index()
    folds = fold_of(sorted({r["patient"] for r in rows}), 5)
    held_out = [r for r in rows if folds[r["patient"]] == 0]
    point, search = WEIGHTS / "lung-nodule.pt", WEIGHTS / "lung-nodule-search.pt"
    table = {
        "lung-nodule alone": detection(point, held_out),
        "lung-nodule-search alone": detection(search, held_out),
        "lung-nodule-search, confirmed by lung-nodule (shipped)": detection(search, held_out, confirm=point),
    }
    for name, row in table.items():
        print(
            f"{name:55s} found {row['found']:2d} of {row['nodules']}  other candidates per stack "
            f"{row['other_candidates_per_nodule_stack']}"
        )
    RESULTS.write_text(json.dumps({"fold": 0, "rows": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
