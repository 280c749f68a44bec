"""Fingerprint of the shipped model's outputs on real data, to prove a refactor changed nothing.

    python tools/output_digest.py OUT.json

Writes the sha256 of the POPI label map (the DICOM series, through ``Segmenter``, TTA on, default
post-processing) and of every predicted mask of the ct-lung-kmader test split (through ``Predictor``),
with the POPI lung volumes. ``tests/reference_outputs.json`` holds these for commit 8972861 (before the
hardening and contracts work); ``tests/test_reference_outputs.py`` compares the current code with it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def popi_digest(shared: Path = SHARED) -> dict:
    import SimpleITK as sitk

    from lungseg.inference import Segmenter

    result = Segmenter.from_pretrained("ct-lung").segment(shared / "ct-volume-popi" / "dicom")
    labels = sitk.GetArrayFromImage(result.labels).astype(np.uint8)
    volumes = {name: result.measurements.to_dict()[name]["volume_ml"] for name in ("right_lung", "left_lung")}
    return {"labels_sha256": _sha(labels), "shape": list(labels.shape), "volumes_ml": volumes}


def kmader_digest(shared: Path = SHARED) -> dict:
    from lungseg.data import find_pairs
    from lungseg.inference import Predictor
    from lungseg.io import read_image

    predictor = Predictor.load("ct-lung")
    split = predictor.card.split
    root = shared / "ct-lung-kmader"
    pairs = {pair.name: pair for pair in find_pairs(root / "images", root / "masks")}
    masks = predictor.predict(
        [read_image(pairs[name].image) for name in split.test], [pairs[name].image for name in split.test]
    )
    return {name: _sha(mask.astype(np.uint8)) for name, mask in zip(split.test, masks)}


def digest(shared: Path = SHARED) -> dict:
    return {"popi": popi_digest(shared), "kmader_test": kmader_digest(shared)}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    Path(sys.argv[1]).write_text(json.dumps(digest(), indent=1) + "\n")
    print(f"wrote {sys.argv[1]}")
