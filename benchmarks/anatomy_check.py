"""How often the anatomical plausibility check (``lungseg.inference.ct.anatomy``) flags real inputs.

    .venv/bin/python benchmarks/anatomy_check.py [--data ../shared/data]

Segments with the shipped ``ct-lung`` (no TTA; 8-bit pictures go to its 8-bit variant) the POPI DICOM
series, every 5th kmader HU slice, the 18 MSD tumour exports, every 6th COVID-19 export and every 3rd
ISBI 2012 EM section, and counts per set the inputs with each anatomy finding (lungs outside the body,
implausible right/left ratio, lungs not darker than the tissue around them). Prints the table and
writes benchmarks/results/anatomy_check.json (a minute or two on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "anatomy_check.json"


def main() -> None:
    from lungseg.errors import InputError
    from lungseg.findings import Code
    from lungseg.inference import Segmenter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    data = parser.parse_args().data
    sets = {
        "ct-volume-popi (HU volume)": [data / "ct-volume-popi" / "dicom"],
        "ct-lung-kmader (HU slices)": sorted((data / "ct-lung-kmader" / "images").glob("*.tif"))[::5],
        "lung-tumor-msd (8-bit exports)": sorted((data / "lung-tumor-msd" / "images").glob("*.png")),
        "covid-infection (8-bit exports)": sorted((data / "covid-infection" / "train" / "images").iterdir())[::6],
        "em-membrane-isbi2012 (EM, not CT)": sorted((data / "em-membrane-isbi2012" / "images").glob("*.png"))[::3],
    }
    codes = (Code.LUNG_OUTSIDE_BODY, Code.LUNG_SIDE_RATIO, Code.LUNG_NOT_DARK)
    segmenter = Segmenter.from_pretrained("ct-lung", tta=False)
    result = {"command": "benchmarks/anatomy_check.py"}
    for name, paths in sets.items():
        counts, refused, verdicts = Counter(), 0, Counter()
        for path in paths:
            try:
                found = segmenter.segment(path)
            except InputError:
                refused += 1
                continue
            counts.update({str(code) for code in codes} & {str(f.code) for f in found.findings})
            verdicts[found.verdict.status] += 1
        result[name] = {"inputs": len(paths), "refused": refused, "flagged": dict(counts), "verdicts": dict(verdicts)}
        print(
            f"{name:36s} {len(paths):3d} inputs, refused {refused}, flagged {dict(counts)}, verdicts {dict(verdicts)}",
            flush=True,
        )
    RESULT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
