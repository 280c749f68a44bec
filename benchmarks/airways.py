"""Airways apart (issue 24): the airway label (8) and the lung volumes before and after it, per shared CT.

    .venv/bin/python benchmarks/airways.py [--data ../shared/data]

Segments with the shipped ``ct-lung`` (TTA on, as ``lungseg predict``) the POPI DICOM series at full and
half resolution, kmader HU slices at and near the main bronchi and one at the heart (no trachea), and the
abdominal total-seg DICOM series; "before" is the same run with the airway step turned off. Prints the
table, writes benchmarks/results/airways.json and montages of each volume's top slices to runs/airways/
(git-ignored; airways grey, right lung red, left lung blue). A minute or two on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "airways.json"
MONTAGES = REPO / "runs" / "airways"
KMADER = ("ID_0145_Z_0059.tif", "ID_0088_Z_0100.tif", "ID_0244_Z_0184.tif", "ID_0153_Z_0065.tif")


def _sizes(result) -> dict:
    measured = result.measurements.to_dict()
    unit = "volume_ml" if result.study.is_volume else "voxels"
    return {key: measured.get(key, {}).get(unit) for key in ("right_lung", "left_lung", "airways")} | {"unit": unit}


def _top_montage(result, path: Path) -> None:
    import numpy as np
    from PIL import Image

    from lungseg.inference.outputs.montage import _grid, _outlined
    from lungseg.preprocessing import WINDOWS

    labels, hu = result.canonical_labels, result.canonical_hu
    rows = np.flatnonzero(labels.reshape(len(labels), -1).any(axis=1))
    chosen = [z for z in range(rows[-1], max(rows[0], rows[-1] - 24) - 1, -2)] if len(rows) else [0]
    tiles = [_outlined(hu[z], labels[z], WINDOWS["lung"], (256, 256), result.classes) for z in chosen]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_grid(tiles, columns=4)).save(path)


def main() -> None:
    import SimpleITK as sitk

    import lungseg.inference.ct.segmenter as module
    from lungseg.errors import InputError
    from lungseg.inference import Segmenter
    from lungseg.io import read_dicom_series

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    data = parser.parse_args().data
    popi = read_dicom_series(data / "ct-volume-popi" / "dicom").image
    inputs = {
        "POPI (0.98x0.98x4 mm)": popi,
        "POPI half (1.95x1.95x8 mm)": sitk.Shrink(popi, [2, 2, 2]),
        **{f"kmader {name}": data / "ct-lung-kmader" / "images" / name for name in KMADER},
        "total-seg abdomen (DICOM)": data / "ct-abdomen-totalseg" / "dicom",
    }
    segmenter = Segmenter.from_pretrained("ct-lung")
    add_airways, rows = module.add_airways, {}
    for name, image in inputs.items():
        try:
            module.add_airways = lambda hu, labels, *rest: labels  # before: no airway step
            before = segmenter.segment(image)
            module.add_airways = add_airways
            after = segmenter.segment(image)
        except InputError as error:
            rows[name] = {"refused": str(error).splitlines()[0]}
            continue
        finally:
            module.add_airways = add_airways
        rows[name] = {"before": _sizes(before), "after": _sizes(after)}
        if after.study.is_volume:
            _top_montage(after, MONTAGES / f"{name.split(' ')[0].lower()}-{len(after.canonical_labels)}.png")
    print(f"{'input':34} {'unit':9} {'right before/after':>20} {'left before/after':>20} {'airways':>8}")
    for name, row in rows.items():
        if "refused" in row:
            print(f"{name:34} refused: {row['refused'][:80]}")
            continue
        b, a = row["before"], row["after"]
        print(
            f"{name:34} {a['unit']:9} {b['right_lung']!s:>9} / {a['right_lung']!s:<9} "
            f"{b['left_lung']!s:>9} / {a['left_lung']!s:<9} {a['airways']!s:>8}"
        )
    RESULT.write_text(json.dumps({"command": "benchmarks/airways.py", "inputs": rows}, indent=1) + "\n")
    print(f"wrote {RESULT.relative_to(REPO)} and montages in {MONTAGES.relative_to(REPO)}/")


if __name__ == "__main__":
    main()
