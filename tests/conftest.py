"""Shared fixtures. Real data comes from ../shared/data (override with LUNGSEG_SHARED_DATA)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services import free_port, mariadb_url, redis_url  # noqa: F401  (session fixtures: real servers)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LUNGSEG_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (CI needs ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def kmader() -> Path:
    return shared("ct-lung-kmader")


@pytest.fixture(scope="session")
def kmader_subset(tmp_path_factory, kmader) -> Path:
    """24 real kmader pairs copied to a temporary DIR/images + DIR/masks (for fast training tests)."""
    root = tmp_path_factory.mktemp("kmader24")
    names = sorted(p.name for p in (kmader / "images").iterdir())[:24]
    for sub in ("images", "masks"):
        (root / sub).mkdir()
        for name in names:
            shutil.copy(kmader / sub / name, root / sub / name)
    return root


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, kmader_subset) -> Path:
    """A real (short) training run on 24 kmader slices at 64 px, shared by inference tests."""
    from lungseg.config import RunConfig
    from lungseg.training import train_run

    out = tmp_path_factory.mktemp("run") / "small"
    config = RunConfig()
    config.data.data = str(kmader_subset)
    config.preprocess.image_size = 64
    config.train.epochs = 3
    config.model.kwargs = {"base_filters": 8, "depth": 3}
    train_run(config, out, log=lambda line: None)
    return out


def load_script(relative: str):
    """A repository script (``tools/x.py``, ``benchmarks/x.py``) imported as module ``x``; registered in
    ``sys.modules`` first, since dataclasses look their module up there."""
    import importlib.util

    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = sys.modules[path.stem] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m lungseg ARGS`` in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "lungseg", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=900
    )


def tiny_config(data, epochs: int, **train):
    """A seconds-fast run on real slices: 32 px, a 4-filter 2-level U-Net, no time budget; ``train``
    overrides TrainConfig fields."""
    from lungseg.config import RunConfig

    config = RunConfig()
    config.data.data = str(data)
    config.preprocess.image_size = 32
    config.model.kwargs = {"base_filters": 4, "depth": 2}
    config.train.epochs = epochs
    config.train.max_minutes = None
    for key, value in train.items():
        setattr(config.train, key, value)
    return config


def tiny_xray_config(data, epochs: int, **train):
    """``tiny_config`` with the shipped X-ray recipe's preprocessing and augmentation, at 64 px on an
    8-filter 3-level U-Net (about a minute of CPU on a few films), no validation split."""
    from lungseg.config.files import load_config

    recipe = load_config(REPO / "recipes" / "xray-lung.yaml")
    config = tiny_config(data, epochs=epochs, **train)
    config.data.split = "100/0/0"
    config.preprocess = recipe.preprocess
    config.preprocess.image_size = 64
    config.augment = recipe.augment
    config.model.kwargs = {"base_filters": 8, "depth": 3}
    return config


@pytest.fixture(scope="session")
def popi_small(tmp_path_factory) -> Path:
    """The real POPI chest CT at half resolution (256 x 256 x 35, 1.95 x 1.95 x 8 mm) as NIfTI: the clean
    input that the hardening tests damage (small, so each CLI run takes about two seconds)."""
    import SimpleITK as sitk

    from lungseg.io import read_dicom_series

    path = tmp_path_factory.mktemp("popi") / "popi_small.nii.gz"
    sitk.WriteImage(sitk.Shrink(read_dicom_series(shared("ct-volume-popi", "dicom")).image, [2, 2, 2]), str(path))
    return path


@pytest.fixture(scope="session")
def popi_small_report(tmp_path_factory, popi_small) -> dict:
    """The shipped model's report on the clean ``popi_small`` (no TTA): the reference volumes."""
    import json

    out = tmp_path_factory.mktemp("popi-clean") / "clean.nii.gz"
    result = run_cli("predict", popi_small, out, "--report", "--no-tta")
    assert result.returncode == 0, result.stderr
    return json.loads(out.with_name("clean_report.json").read_text())


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need a CUDA GPU: skipped (with the reason) where PyTorch sees none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (PyTorch sees none)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
