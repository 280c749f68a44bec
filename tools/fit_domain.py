"""Fit the in-domain check of each shipped model on its own training images and store it with the weights
(``src/lungseg/weights/<model>.domain.npz``, listed with its sha256 in the manifest as ``files.domain``).

    .venv/bin/python tools/fit_domain.py                      # every shipped model
    .venv/bin/python tools/fit_domain.py --only ct-lung,xray-lung

The training images of a model are the samples of its checkpoint's stored split (``train`` subset) in
the folder it was trained from, prepared by its own plan exactly as in training
(``lungseg.preprocessing.domain``). ``tools/release_weights.py`` runs this after it trains a model.
The folders ``runs/kmader-8bit`` (tools/render_8bit.py) and ``runs/lung-nodule-data``
(tools/nodule_training_set.py --without-fold 0) are made by the release when missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
WEIGHTS = REPO / "src" / "lungseg" / "weights"


@dataclass(frozen=True)
class TrainingImages:
    """Where a model's training samples live: ``folder`` of images named by sample (any suffix)."""

    folder: Path
    prepare: Callable[[Path], Path] | None = None  # makes the folder when it is missing

    def files(self, names: list[str]) -> list[Path]:
        if not self.folder.is_dir() and self.prepare is not None:
            self.prepare(self.folder)
        listed = [path for path in self.folder.rglob("*") if path.is_file()]
        by_stem = {path.stem: path for path in listed}
        by_relative = {path.relative_to(self.folder).as_posix(): path for path in listed}
        found = [by_relative.get(name) or by_stem.get(name) or by_stem.get(Path(name).stem) for name in names]
        missing = [name for name, path in zip(names, found) if path is None]
        if missing:
            raise SystemExit(f"{self.folder}: {len(missing)} training samples missing, e.g. {missing[0]}")
        return [path for path in found if path is not None]


def _render_8bit(folder: Path) -> Path:
    import subprocess

    subprocess.run(
        [sys.executable, str(REPO / "tools" / "render_8bit.py"), str(SHARED / "ct-lung-kmader"), str(folder)],
        check=True,
    )
    return folder


def _nodule_set(folder: Path) -> Path:
    import subprocess

    tool = REPO / "tools" / "nodule_training_set.py"
    subprocess.run([sys.executable, str(tool), str(folder), "--without-fold", "0"], check=True)
    return folder


TRAINING = {
    "ct-lung": TrainingImages(SHARED / "ct-lung-kmader" / "images"),
    "ct-lung-8bit": TrainingImages(REPO / "runs" / "kmader-8bit" / "images", _render_8bit),
    "xray-lung": TrainingImages(SHARED / "xray-lung-montgomery-138" / "images"),
    "covid-infection": TrainingImages(SHARED / "covid-infection" / "train" / "images"),
    "covid-infection-types": TrainingImages(SHARED / "covid-infection" / "train" / "images"),
    "lung-nodule": TrainingImages(REPO / "runs" / "lung-nodule-data" / "images", _nodule_set),
    "lung-nodule-search": TrainingImages(REPO / "runs" / "lung-nodule-data" / "images", _nodule_set),
    "ct-cancer-type": TrainingImages(SHARED / "chest-ct-cancer"),
}


@cache
def card_of(model: str):
    """The model card of a shipped model, with its stored split (from the checkpoint, read once)."""
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    return load_checkpoint(resolve_model(model)).card


def stage_one_files(card) -> list[Path]:
    """A model fine-tuned from a pre-trained run (``train.init_from`` naming a run's ``best.pt``, such as the
    semi-supervised covid-infection from runs/covid-pretrain) also learnt from that run's training images:
    the ``train`` samples of its ``split.json``, in the folder its config names."""
    init = ((card.provenance.config or {}).get("train") or {}).get("init_from") or ""
    run = (REPO / init).parent if init.endswith("best.pt") else None
    if run is None or not (run / "split.json").is_file():
        return []
    import yaml

    images = Path(yaml.safe_load((run / "config.yaml").read_text())["data"]["images"])
    images = images if images.is_absolute() else REPO / images
    names = json.loads((run / "split.json").read_text())["train"]
    return TrainingImages(images).files(names)


def read_stored(path: Path) -> np.ndarray:
    """A training file as a gray image (the first channel of a colour picture; marks painted on a classifier
    picture are not removed)."""
    from lungseg.io import read_image

    image = np.asarray(read_image(path))
    return image[..., 0] if image.ndim == 3 else image


def training_features(model: str) -> tuple[np.ndarray, str]:
    from lungseg.inference.core.domain import prepared_input
    from lungseg.preprocessing.domain import domain_features

    card = card_of(model)
    source = TRAINING[model]
    names = card.split.train
    files = source.files(names)
    stage_one = stage_one_files(card)
    files += stage_one
    features = np.stack([domain_features(prepared_input(card, read_stored(path), str(path))) for path in files])
    where = source.folder.relative_to(REPO) if source.folder.is_relative_to(REPO) else source.folder.resolve()
    more = f" + {len(stage_one)} of its pre-training run" if stage_one else ""
    return features, f"{len(files)} training images of {model} ({where.as_posix()}, the checkpoint's train split{more})"


def fit(model: str, method: str = "knn") -> Path:
    from lungseg.io.atomic import atomic_path
    from lungseg.io.shipped import sha256_of
    from lungseg.preprocessing.domain import fit_domain

    features, fitted_on = training_features(model)
    check = fit_domain(features, fitted_on, method)
    path = WEIGHTS / f"{model}.domain.npz"
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        check.write(handle)
    manifest_path = WEIGHTS / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"][model]["files"]["domain"] = {"name": path.name, "sha256": sha256_of(path), "url": None}
    from lungseg.io.atomic import write_text_atomic

    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    print(f"{model}: {fitted_on}; threshold {check.threshold:.1f}, far {check.far:.1f} -> {path.relative_to(REPO)}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated model names (default: every shipped model)")
    parser.add_argument("--method", default="knn", help="knn (default) or mahalanobis")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(TRAINING)
    unknown = [name for name in names if name not in TRAINING]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(TRAINING)}")
    for name in names:
        fit(name, args.method)


if __name__ == "__main__":
    main()
