"""How often the classifier's chest-CT check flags pictures, on chest CT slices and on other images.

    .venv/bin/python benchmarks/classifier_input_check.py [--model ct-cancer-type]

Runs ``ImageClassifier.input_findings`` on every picture: ``check_picture`` (lung fields found by
ct-lung-8bit: enough of them, and dark against the tissue around them, in a gray picture; "flagged")
and the model's in-domain check; "refused" where both agree (or the picture is far from every training
picture, or it is unlike them and the lung-model router surely calls it a chest film). The sets:
chest CT exports (chest-ct-cancer train+valid, COVID-19 exports, MSD tumour exports: should pass), and
non-chest-CT images in ../shared/data (Montgomery chest X-rays, ISBI 2012 EM sections, an abdominal CT
slices without lungs from the TotalSegmentator CT, exported like the cancer set: should be flagged). Prints the
flag and refusal rates per set; writes benchmarks/results/classifier_input_check.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "classifier_input_check.json"
SETS = {
    "chest-ct-cancer (chest CT)": ("chest-ct-cancer", "*/*/*", True),
    "covid-infection (chest CT)": ("covid-infection/train/images", "*", True),
    "lung-tumor-msd (chest CT)": ("lung-tumor-msd/images", "*", True),
    "xray-lung-montgomery (X-ray)": ("xray-lung-montgomery/images", "*", False),
    "xray-lung-montgomery-138 (X-ray)": ("xray-lung-montgomery-138/images", "*", False),
    "em-membrane-isbi2012 (EM)": ("em-membrane-isbi2012", "*images/*", False),
}


def abdomen_slices() -> list[tuple[str, np.ndarray]]:
    """Axial slices of the TotalSegmentator CT that show no lung (the ct-lung model finds under 0.5 % of
    the slice), exported like the cancer set's pictures (mediastinal window L40/W400, 8-bit)."""
    import SimpleITK as sitk

    from lungseg.inference.core.predictor import Predictor
    from lungseg.io import read_volume
    from lungseg.preprocessing import apply_window

    files = sorted((SHARED / "ct-abdomen-totalseg" / "nifti").glob("*.nii*"))
    if not files:
        return []
    array = sitk.GetArrayFromImage(read_volume(files[0]))
    lungs = Predictor.load("ct-lung")
    picks = [int(z) for z in np.linspace(0, array.shape[0] - 1, 12)]
    return [
        (f"{files[0].name}[{z}]", np.rint(apply_window(array[z], 40, 400) * 255).astype(np.uint8))
        for z in picks
        if lungs.apply(array[z]).mean() < 0.005
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ct-cancer-type")
    args = parser.parse_args()
    from lungseg.inference.classify.classifier import ImageClassifier

    classifier = ImageClassifier.load(args.model)
    results = {}
    for label, (folder, pattern, chest_ct) in SETS.items():
        files = sorted(
            p
            for p in (SHARED / folder).glob(pattern)
            if p.is_file() and p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif")
        )
        results[label] = score(classifier, [(str(p), classifier.read(p).gray) for p in files], chest_ct)
    results["ct-abdomen-totalseg slices (abdominal CT)"] = score(classifier, abdomen_slices(), False)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"{'set':44s} {'pictures':>8s} {'flagged':>8s} {'rate':>6s} {'refused':>8s} {'rate':>6s}")
    for label, row in results.items():
        print(
            f"{label:44s} {row['pictures']:8d} {row['flagged']:8d} {row['rate']:6.1%} {row['refused']:8d} "
            f"{row['refused_rate']:6.1%}"
        )
    print(f"wrote {RESULTS}")


def score(classifier, pictures: list[tuple[str, np.ndarray]], chest_ct: bool) -> dict:
    from lungseg.findings import Code, Level

    flagged, refused = [], []
    for name, picture in pictures:
        findings = classifier.input_findings(picture, name)
        if any(f.code == Code.NOT_CHEST_CT for f in findings):
            flagged.append(name)
        if any(f.level == Level.REFUSE for f in findings):
            refused.append(name)
    return {
        "chest_ct": chest_ct,
        "pictures": len(pictures),
        "flagged": len(flagged),
        "rate": len(flagged) / max(len(pictures), 1),
        "flagged_names": flagged[:20],
        "refused": len(refused),
        "refused_rate": len(refused) / max(len(pictures), 1),
        "refused_names": refused[:20],
    }


if __name__ == "__main__":
    main()
