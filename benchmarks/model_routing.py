"""Where ``--model auto`` sends every 2D picture and volume in ../shared/data: CT or chest X-ray model.

    .venv/bin/python benchmarks/model_routing.py [--xray-model xray-lung]

Runs ``lungseg.inference.routing.route.route`` (the rule of ``lungseg predict --model auto`` and the web
form's default) on: the chest CT slice exports (chest-ct-cancer train+valid, COVID-19 exports, MSD
tumour exports; 8-bit pictures, judged by the 8-bit CT lung model and the X-ray lung model), the
HU TIFF slices of ct-lung-kmader, the volumes (POPI DICOM series, TotalSegmentator NIfTI), the
Montgomery chest X-rays (the 4 JPEGs and the 138 PNGs) and 12-bit MONOCHROME1 DICOM DX made from the 4, and the
ISBI 2012
EM sections (neither: they go wherever the rule puts them, and that model's checks must flag them).
Prints the count per model for each set and writes benchmarks/results/model_routing.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "model_routing.json"
PICTURES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SETS = {
    "chest-ct-cancer (CT exports)": ("chest-ct-cancer", "*/*/*", "ct-lung"),
    "covid-infection (CT exports)": ("covid-infection/train/images", "*", "ct-lung"),
    "lung-tumor-msd (CT exports)": ("lung-tumor-msd/images", "*", "ct-lung"),
    "ct-lung-kmader (HU TIFF)": ("ct-lung-kmader/images", "*", "ct-lung"),
    "xray-lung-montgomery (JPEG)": ("xray-lung-montgomery/images", "*", "xray-lung"),
    "xray-lung-montgomery-138 (PNG)": ("xray-lung-montgomery-138/images", "*", "xray-lung"),
    "em-membrane-isbi2012 (EM, neither)": ("em-membrane-isbi2012", "*images/*", None),
}


def args_model() -> str:
    """The X-ray model: ``--xray-model PATH`` (e.g. a leave-one-out fold model), else the shipped one."""
    return sys.argv[sys.argv.index("--xray-model") + 1] if "--xray-model" in sys.argv else "xray-lung"


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from lungseg.inference.core.predictor import Predictor
    from lungseg.inference.core.study import load_study
    from lungseg.inference.routing.route import route
    from lungseg.io import read_image
    from radiographs import write_dx

    eight_bit, xray = Predictor.load("ct-lung-8bit"), Predictor.load(args_model())
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        films = []
        for path in sorted((SHARED / "xray-lung-montgomery" / "images").glob("*.jpg")):
            films.append(write_dx(Path(tmp) / f"{path.stem}.dcm", read_image(path), monochrome1=True))
        groups = {
            label: sorted(p for p in (SHARED / folder).glob(pattern) if p.is_file() and p.suffix.lower() in PICTURES)
            for label, (folder, pattern, _) in SETS.items()
        }
        groups["xray-lung-montgomery (DICOM DX, MONOCHROME1)"] = films
        groups["POPI + TotalSegmentator (volumes)"] = [
            SHARED / "ct-volume-popi" / "dicom",
            *sorted((SHARED / "ct-abdomen-totalseg" / "nifti").glob("*.nii*")),
        ]
        expected = {
            label: SETS[label][2] if label in SETS else ("xray-lung" if "DICOM DX" in label else "ct-lung")
            for label in groups
        }
        for label, paths in groups.items():
            routes = [route(load_study(path), eight_bit, xray) for path in paths]
            counts = Counter(found.model for found in routes)
            wrong = [
                str(path.relative_to(SHARED)) if path.is_relative_to(SHARED) else path.name
                for path, found in zip(paths, routes)
                if expected[label] and found.model != expected[label]
            ]
            unsure = sum(not found.sure for found in routes)  # tie-broken: the result carries routing-unsure
            results[label] = {
                "n": len(paths),
                "routed": dict(counts),
                "expected": expected[label],
                "wrong": wrong,
                "unsure": unsure,
            }
    print(f"{'set':46} {'n':>5} {'ct-lung':>8} {'xray-lung':>10} {'unsure':>7}  expected")
    for label, row in results.items():
        print(
            f"{label:46} {row['n']:5d} {row['routed'].get('ct-lung', 0):8d} {row['routed'].get('xray-lung', 0):10d} "
            f"{row['unsure']:7d}  {row['expected'] or '-'}"
        )
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
