"""Shipped pretrained models: names such as ``ct-lung`` resolved to checksum-verified files.

``src/lungseg/weights/manifest.json`` lists every shipped model: its files (checkpoint and ONNX export)
with their sha256, the exact command and data that trained it, and its test metrics. A file is looked
up in the package first, then in the cache (``$LUNGSEG_CACHE``, default ``~/.cache/lungseg``); if
neither holds it and the manifest gives a ``url``, it is downloaded to the cache. Every file is
verified against its sha256 before use, so a truncated or tampered file is refused, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
from pathlib import Path

from lungseg.errors import InputError
from lungseg.io import atomic_path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
# Retired shipped models: name -> why, and what replaces it (a one-line error wherever the name is given)
RETIRED = {
    "lung-tumor": "retired (cross-validated Dice 0.24 on 18 MSD slices; 17 false 'tumours' of aerated lung "
    "on the POPI chest CT); its successor is lung-nodule (--lesions lung-nodule, or lungseg nodule)",
}


def shipped_models(manifest: Path = MANIFEST) -> dict[str, dict]:
    """Name -> manifest entry of every shipped model."""
    if not manifest.is_file():
        return {}
    return json.loads(manifest.read_text())["models"]


def cache_dir() -> Path:
    return Path(os.environ.get("LUNGSEG_CACHE", Path.home() / ".cache" / "lungseg"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(reference: str | Path, kind: str = "checkpoint", manifest: Path = MANIFEST) -> Path:
    """A shipped model name or a file path -> a verified local file.

    ``kind`` is ``"checkpoint"`` or ``"onnx"``. A path is returned as it is (it must exist); a name must
    be in the manifest, and its file is found, downloaded if needed, and checked against its sha256.
    """
    models = shipped_models(manifest)
    text = str(reference)
    if text not in models:
        path = Path(reference)
        if path.exists():
            return path
        if text in RETIRED:
            raise InputError(reference, RETIRED[text])
        names = ", ".join(sorted(models)) or "none"
        raise InputError(reference, f"no such file, and not a shipped model name (shipped: {names})")
    files = models[text]["files"]
    if kind not in files:
        raise InputError(reference, f"the shipped model has no {kind} file")
    return fetch_file(files[kind], manifest.parent)


def fetch_file(entry: dict, package_dir: Path = WEIGHTS_DIR) -> Path:
    """Find (or download) the file a manifest entry {name, sha256, url?} describes and verify it."""
    for folder in (package_dir, cache_dir()):
        candidate = folder / entry["name"]
        if candidate.is_file():
            _verify(candidate, entry["sha256"])
            return candidate
    if not entry.get("url"):
        raise InputError(
            package_dir / entry["name"], "shipped weights file is missing and the manifest gives no download url"
        )
    return download(entry["url"], cache_dir() / entry["name"], entry["sha256"])


def download(url: str, destination: Path, sha256: str) -> Path:
    """Download ``url`` (http(s) or file://) to ``destination`` atomically, verifying its sha256."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(destination) as temporary:
            with urllib.request.urlopen(url, timeout=60) as response, open(temporary, "wb") as handle:
                shutil.copyfileobj(response, handle)
            _verify(temporary, sha256, shown=url)
    except OSError as exc:
        raise InputError(url, f"download failed ({exc})") from exc
    return destination


def _verify(path: Path, sha256: str, shown: str | Path | None = None) -> None:
    actual = sha256_of(path)
    if actual != sha256:
        raise InputError(
            shown or path,
            f"sha256 mismatch: expected {sha256[:12]}..., got {actual[:12]}... "
            "(corrupt or tampered weights file; delete it to download again)",
        )
