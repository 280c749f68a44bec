"""Store what a shipped classifier is expected to do on new scans in its manifest entry (``new_scans``).

    .venv/bin/python tools/classifier_new_scans.py --model ct-cancer-type --result "recipe [scan-disjoint, cut 1.0]"

Copies the ``final`` block of that entry of benchmarks/results/classifier_scan_cv.json (the scan-disjoint
cross-validation of the model's recipe: temperature and abstention threshold fitted on every
out-of-fold prediction, the expected accuracy, balanced accuracy, coverage and accuracy when answered)
with the command that made it into src/lungseg/weights/manifest.json. ``ImageClassifier.load`` then
uses that temperature and threshold, and ``classify predict``, the API and the web page quote the
expected accuracy. tests/test_scan_groups.py keeps the two files equal. The result must be of the
model's own recipe (``recipe``): another candidate's numbers say nothing about this model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "classifier_scan_cv.json"
MANIFEST = REPO / "src" / "lungseg" / "weights" / "manifest.json"
KEYS = (
    "temperature",
    "threshold",
    "display_cap",
    "target_accuracy",
    "expected_accuracy",
    "expected_balanced_accuracy",
    "expected_answered_accuracy",
    "expected_coverage",
)


def new_scans_block(result_key: str, results: Path = RESULTS) -> dict:
    """The manifest block for the benchmark entry ``result_key``; ValueError naming it when absent."""
    found = json.loads(results.read_text()) if results.is_file() else {}
    if result_key not in found or "final" not in found[result_key]:
        raise ValueError(f"result {result_key!r} is not in {results} (run benchmarks/classifier_scan_cv.py first)")
    if not result_key.startswith("recipe ["):
        raise ValueError(f"result {result_key!r} is not the shipped recipe's: its numbers do not describe the model")
    entry = found[result_key]
    return {
        "result": result_key,
        "command": entry["command"],
        "folds": entry["folds_k"],
        **{key: entry["final"][key] for key in KEYS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ct-cancer-type")
    parser.add_argument("--result", default="recipe [scan-disjoint, cut 1.0]")
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())
    if args.model not in manifest["models"]:
        parser.error(f"--model {args.model!r} is not in {MANIFEST}")
    manifest["models"][args.model]["new_scans"] = new_scans_block(args.result)
    temporary = MANIFEST.with_suffix(".tmp")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n")
    temporary.replace(MANIFEST)
    print(json.dumps(manifest["models"][args.model]["new_scans"], indent=1))


if __name__ == "__main__":
    main()
