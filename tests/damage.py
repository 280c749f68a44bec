"""Helpers for the hardening tests: damage real shared files the way archives and users do, run the
CLI on them, and check what a user would check (exit code, one named error line, no traceback, inputs
and earlier outputs untouched, no temporary files left)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pydicom

from conftest import run_cli, shared

POPI_DICOM = ("ct-volume-popi", "dicom")
NIFTI_HEADER = 348


def digest_tree(*roots: Path) -> dict[str, str]:
    """sha256 of every file below (or at) ``roots``: compare before and after a command."""
    digests = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def temporary_files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob(".tmp-*")]


def run(*args, cwd: Path | None = None, guard: tuple[Path, ...] = ()):
    """Run the CLI; the files below ``guard`` must come out byte-identical and no temp file may remain."""
    before = digest_tree(*guard)
    result = run_cli(*args, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    assert digest_tree(*guard) == before, f"a guarded file changed\n{result.stderr}"
    assert not temporary_files(*(g.parent if g.is_file() else g for g in guard)), "temporary files left"
    return result


def error_line(result, code: int, *fragments: str) -> str:
    """The single ``error:`` line of a failed command, checked for the exit code and every fragment."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) >= 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def report_of(path: Path) -> dict:
    return json.loads(path.read_text())


def lung_ml(report: dict) -> tuple[float, float]:
    measurements = report["measurements"]
    return measurements["right_lung"]["volume_ml"], measurements["left_lung"]["volume_ml"]


# --- DICOM -----------------------------------------------------------------------------------------


def popi_files() -> list[Path]:
    return sorted(shared(*POPI_DICOM).iterdir())


def lenient_read(path: Path, **kwargs):
    """POPI carries a malformed private tag; read it the way the library does."""
    previous = pydicom.config.convert_wrong_length_to_UN
    pydicom.config.convert_wrong_length_to_UN = True
    try:
        return pydicom.dcmread(path, **kwargs)
    finally:
        pydicom.config.convert_wrong_length_to_UN = previous


def dicom_subset(folder: Path, every: int = 3, start: int = 0, stop: int | None = None, edit=None) -> Path:
    """Copy every ``every``-th real POPI slice to ``folder``; ``edit(dataset, index)`` may change each."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(popi_files()[start:stop:every]):
        if edit is None:
            shutil.copy(source, folder / source.name)
            continue
        dataset = lenient_read(source)
        edit(dataset, index)
        dataset.save_as(folder / source.name)
    return folder


def restore_stored(dataset, hu: np.ndarray, slope: float, intercept: float) -> None:
    """Store ``hu`` with another RescaleSlope/Intercept (valid, just unusual)."""
    stored = np.round((hu - intercept) / slope)
    dataset.PixelData = stored.astype(np.uint16).tobytes()
    dataset.RescaleSlope, dataset.RescaleIntercept = f"{slope:g}", f"{intercept:g}"


# --- NIfTI -----------------------------------------------------------------------------------------


def patch_nifti(source: Path, target: Path, *, pixdim=None, dims=None) -> Path:
    """Rewrite header fields of a real .nii.gz: ``pixdim`` (x, y, z), ``dims`` (x, y, z)."""
    raw = bytearray(gzip.decompress(source.read_bytes()))
    if pixdim is not None:
        raw[80:92] = struct.pack("<3f", *pixdim)
    if dims is not None:
        raw[42:48] = struct.pack("<3h", *dims)
    data = bytes(raw)
    target.write_bytes(gzip.compress(data, compresslevel=1) if target.name.endswith(".gz") else data)
    return target


def truncate(source: Path, target: Path, fraction: float = 0.6) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target
