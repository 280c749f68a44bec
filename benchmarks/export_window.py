"""Measure the HU window that made a set of 8-bit CT exports: fit level/width so that HU slices of a
reference set (ct-lung-kmader, with its lung masks), windowed and quantised to 0..255, have the same
gray-level distribution as the exports (1-Wasserstein distance between the two histograms, grid search).

    .venv/bin/python benchmarks/export_window.py [--reference ../shared/data/ct-lung-kmader]

Export sets (from ../shared/data): ``covid-infection/train/images`` (cropped to the lungs, so the
reference slices are cropped to their lung masks' bounding box first) and ``lung-tumor-msd/images``
(whole field of view). The fitted window of each set is what the lesion recipes store in their
preprocessing plan (``preprocess.export_center`` / ``export_width``), so HU input is mapped to look like
the training exports. Prints a table and writes benchmarks/results/export_window.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HU_LOW, HU_HIGH = -2048, 3072  # 1-HU bins of the reference histogram
SETS = {"covid-infection": ("covid-infection/train/images", True), "lung-tumor-msd": ("lung-tumor-msd/images", False)}


def reference_histograms(reference: Path, step: int) -> dict[bool, np.ndarray]:
    """HU histograms (1-HU bins) of the reference slices: whole slice (False), lung bounding box (True)."""
    from lungseg.io import read_image
    from lungseg.io.masks import read_mask_array

    hists = {False: np.zeros(HU_HIGH - HU_LOW), True: np.zeros(HU_HIGH - HU_LOW)}
    images = sorted((reference / "images").iterdir())[::step]
    for path in images:
        hu = np.clip(np.rint(read_image(path)).astype(np.int64), HU_LOW, HU_HIGH - 1) - HU_LOW
        mask = read_mask_array(reference / "masks" / path.name) > 0
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        hists[False] += np.bincount(hu.ravel(), minlength=HU_HIGH - HU_LOW)
        if rows.size:
            box = hu[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            hists[True] += np.bincount(box.ravel(), minlength=HU_HIGH - HU_LOW)
    return hists


def export_histogram(folder: Path) -> np.ndarray:
    from lungseg.io import read_image

    hist = np.zeros(256)
    for path in sorted(folder.iterdir()):
        image = read_image(path)
        gray = image if image.ndim == 2 else image[..., 0]
        hist += np.bincount(np.clip(np.rint(gray), 0, 255).astype(np.int64).ravel(), minlength=256)
    return hist


def windowed(hu_hist: np.ndarray, center: float, width: float) -> np.ndarray:
    """The 256-level histogram of the reference after the window (center, width) and rounding."""
    hu = np.arange(HU_LOW, HU_HIGH, dtype=np.float64)
    gray = np.clip(np.rint((hu - (center - width / 2)) / width * 255), 0, 255).astype(np.int64)
    return np.bincount(gray, weights=hu_hist, minlength=256)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between two gray-level histograms, in gray levels."""
    return float(np.abs(np.cumsum(a / a.sum()) - np.cumsum(b / b.sum())).sum())


def fit_window(hu_hist: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    best = (np.inf, 0.0, 0.0)
    for coarse in (True, False):
        if coarse:
            centers, widths = np.arange(-900, 301, 25), np.arange(150, 2501, 50)
        else:
            centers = np.arange(best[1] - 40, best[1] + 41, 5)
            widths = np.arange(max(best[2] - 80, 50), best[2] + 81, 10)
        for center in centers:
            for width in widths:
                score = distance(windowed(hu_hist, center, width), target)
                if score < best[0]:
                    best = (score, float(center), float(width))
    return best[1], best[2], best[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="../shared/data")
    parser.add_argument("--reference", default="../shared/data/ct-lung-kmader")
    parser.add_argument("--step", type=int, default=2, help="use every STEP-th reference slice")
    parser.add_argument("--out", default="benchmarks/results/export_window.json")
    args = parser.parse_args()
    hists = reference_histograms(Path(args.reference), args.step)
    rows = {}
    for name, (folder, cropped) in SETS.items():
        target = export_histogram(Path(args.shared) / folder)
        center, width, score = fit_window(hists[cropped], target)
        lung = windowed(hists[cropped], -600.0, 1500.0)
        rows[name] = {
            "center": center,
            "width": width,
            "distance_gray": round(score, 2),
            "distance_lung_window_gray": round(distance(lung, target), 2),
            "reference_crop": "lung bounding box" if cropped else "whole slice",
            "export_fraction_0": round(float(target[0] / target.sum()), 3),
            "export_fraction_255": round(float(target[255] / target.sum()), 3),
        }
    print(f"{'export set':18} {'level':>7} {'width':>7} {'W1 fitted':>10} {'W1 L-600/W1500':>15}")
    for name, row in rows.items():
        print(
            f"{name:18} {row['center']:7.0f} {row['width']:7.0f} {row['distance_gray']:10.2f} "
            f"{row['distance_lung_window_gray']:15.2f}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"reference": args.reference, "step": args.step, "sets": rows}, indent=1))


if __name__ == "__main__":
    main()
