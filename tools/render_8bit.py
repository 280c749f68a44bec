"""Render HU CT slices with their masks as 8-bit exports, the way PACS viewers and public datasets save
them: through a window (level/width), to PNG or JPEG, some cropped to the lungs. This is the training
set of the shipped ``ct-lung-8bit`` model (lungs in 8-bit exports).

    .venv/bin/python tools/render_8bit.py ../shared/data/ct-lung-kmader runs/kmader-8bit [--copies 2]

Each slice gets ``--copies`` renderings named ``<stem>_r<i>``, each in one style drawn at random (seeded):

- ``lung``: lung window L-600/W1500, level +-100 HU, width x0.8..1.2, whole slice, PNG;
- ``cropped``: the window measured on the COVID-19 infection exports (benchmarks/export_window.py,
  L-380/W1170) with the same jitter, cropped to the lungs' bounding box plus 2..30 px, JPEG q 75..95;
- ``soft``: the window measured on the MSD tumour exports (L110/W230) with the same jitter, whole slice;
- ``random``: level -700..150 HU, width 250..2000 HU, whole slice, PNG or JPEG.

Masks are written as PNG {0, 255} on the same crop. Group the renderings of one slice with
``--group-pattern '^(ID_\\d+)'`` so they never land in different splits.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

STYLES = ("lung", "cropped", "soft", "random")
MEASURED = {"lung": (-600.0, 1500.0), "cropped": (-380.0, 1170.0), "soft": (110.0, 230.0)}


def window_8bit(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """HU -> uint8 through the window, with lungseg's own formula (as the 8-bit plans and overlays)."""
    from lungseg.preprocessing import apply_window

    return np.rint(apply_window(hu, center, width) * 255.0).astype(np.uint8)


def render(hu: np.ndarray, mask: np.ndarray, style: str, rng: random.Random):
    """One rendering: (8-bit image, {0, 255} mask, file suffix)."""
    if style == "random":
        center, width = rng.uniform(-700, 150), rng.uniform(250, 2000)
    else:
        center, width = MEASURED[style]
        center, width = center + rng.uniform(-100, 100), width * rng.uniform(0.8, 1.2)
    image, labels = window_8bit(hu, center, width), (mask > 0).astype(np.uint8) * 255
    if style == "cropped" and mask.any():
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        margin = rng.randint(2, 30)
        top, left = max(rows[0] - margin, 0), max(cols[0] - margin, 0)
        image = image[top : rows[-1] + margin + 1, left : cols[-1] + margin + 1]
        labels = labels[top : rows[-1] + margin + 1, left : cols[-1] + margin + 1]
    jpeg = style == "cropped" or (style == "random" and rng.random() < 0.5)
    return image, labels, (".jpg", rng.randint(75, 95)) if jpeg else (".png", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with images/ (HU) and masks/")
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from PIL import Image

    from lungseg.io import read_image
    from lungseg.io.masks import read_mask_array

    rng = random.Random(args.seed)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    (args.out / "masks").mkdir(parents=True, exist_ok=True)
    paths = sorted((args.data / "images").iterdir())
    for path in paths:
        hu, mask = read_image(path), read_mask_array(args.data / "masks" / path.name)
        for copy in range(args.copies):
            image, labels, (suffix, quality) = render(hu, mask, rng.choice(STYLES), rng)
            name = f"{path.stem}_r{copy}"
            options = {"quality": quality} if quality else {}
            Image.fromarray(image).save(args.out / "images" / f"{name}{suffix}", **options)
            Image.fromarray(labels).save(args.out / "masks" / f"{name}.png")
    print(f"wrote {len(paths) * args.copies} renderings of {len(paths)} slices to {args.out}")


if __name__ == "__main__":
    main()
