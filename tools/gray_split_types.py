"""Build ``covid-infection-types`` from the binary ``covid-infection`` network and one fitted gray level.

    .venv/bin/python tools/gray_split_types.py --binary runs/covid-infection/best.pt \
        --cv runs/cv-covid-infection --out runs/covid-infection-types-split

The model (``lungseg.models.gray_split``, ``gray-split-unet``): the binary network's lesion mask, split at
the 8-bit gray level that best separates the radiologists' ground-glass pixels (below) from their
consolidation pixels (at or above) on the *typed slices the binary network was trained on* (its card's
training split; ``masks_multiclass`` of ``--data``). Writes ``OUT/best.pt`` and ``OUT/config.yaml`` (the
binary run's config with the model and the level), as a training run would, for tools/release_weights.py.

``--cv``: the same construction per fold of the binary model's cross-validation (level fitted on the
fold's training slices only), each scored on its validation slices as ``lungseg cv`` scores a fold
(``evaluate_pairs``: original resolution, per class); ``OUT/cv/cv_summary.json`` has ``lungseg cv``'s
layout, so the manifest quotes it like any cross-validated model.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

CLASSES = ("ground-glass opacity", "consolidation")


def typed_slices(data: Path, names: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The gray images and 3-class label maps of ``names`` under ``data`` (images/, masks_multiclass/)."""
    from lungseg.io import read_image
    from lungseg.io.label_maps import read_label_map

    images, masks = [], []
    for name in names:
        found = sorted((data / "images").glob(f"{name}.*"))
        if not found:
            raise SystemExit(f"{data / 'images'}: no image named {name!r} (the binary model's split)")
        image = read_image(found[0])
        images.append(np.asarray(image if image.ndim == 2 else image[..., 0]))
        masks.append(read_label_map(data / "masks_multiclass" / f"{name}.png", 3))
    return images, masks


def build(binary_path: Path, data: Path, out: Path) -> int:
    """Write ``out/best.pt`` and ``out/config.yaml``; returns the fitted level (0..255)."""
    from lungseg.model_card import ModelSpec
    from lungseg.models import Checkpoint, load_checkpoint, save_checkpoint
    from lungseg.models.gray_split import fit_gray_level

    binary = load_checkpoint(binary_path)
    card = binary.card
    if card.spec.name != "unet" or card.channels != 1:
        raise SystemExit(
            f"{binary_path}: a binary 'unet' is needed, got {card.spec.name!r} with {card.channels} outputs"
        )
    level = fit_gray_level(*typed_slices(data, list(card.split.train)))
    kwargs = {**card.spec.kwargs, "out_channels": 3, "level": level / 255.0}
    config = json.loads(json.dumps(card.provenance.config))  # a plain copy
    config["model"] = {**config["model"], "name": "gray-split-unet", "class_names": list(CLASSES)}
    config["gray_split"] = {
        "binary": str(binary_path),
        "level": level,
        "fitted_on": f"{len(card.split.train)} typed slices of {data / 'masks_multiclass'}",
    }
    typed = replace(
        card,
        spec=ModelSpec("gray-split-unet", kwargs),
        class_names=CLASSES,
        metrics={},
        provenance=replace(card.provenance, config=config),
    )
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "best.pt", Checkpoint(typed, {f"unet.{k}": v for k, v in binary.state_dict.items()}))
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return level


def cross_validate(binary_cv: Path, data: Path, out: Path) -> dict:
    """Per fold of ``binary_cv``: the split model (level from the fold's training slices), scored on the
    fold's validation slices; ``out/cv_summary.json``."""
    from lungseg.crossval import format_cv, summarize_folds
    from lungseg.data import find_pairs
    from lungseg.inference import Predictor, evaluate_pairs
    from lungseg.io import write_text_atomic

    pairs = {pair.name: pair for pair in find_pairs(data / "images", data / "masks_multiclass")}
    results, levels = [], []
    for fold_binary in sorted(binary_cv.glob("fold-*/best.pt")):
        fold_out = out / fold_binary.parent.name
        levels.append(build(fold_binary, data, fold_out))
        predictor = Predictor.load(fold_out / "best.pt", backend="torch")
        names = predictor.card.split.val
        results.append(evaluate_pairs(predictor, [pairs[n] for n in names], fold_out / "eval-val", log=lambda _: None))
    if not results:
        raise SystemExit(f"{binary_cv}: no fold-*/best.pt")
    summary = {**summarize_folds(results), "gray_levels": levels}
    write_text_atomic(out / "cv_summary.json", json.dumps(summary, indent=1))
    print(format_cv(summary))
    print(f"gray levels fitted per fold: {levels}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, required=True, help="the binary model's best.pt")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/covid-infection/train"))
    parser.add_argument("--cv", type=Path, help="the binary model's `lungseg cv` folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.cv is not None:
        cross_validate(args.cv, args.data, args.out / "cv")
    level = build(args.binary, args.data, args.out)
    print(f"wrote {args.out / 'best.pt'}: gray level {level} of 255")


if __name__ == "__main__":
    main()
