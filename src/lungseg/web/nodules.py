"""Nodules clicked in the viewer: a point (voxel x, y, z of the analysis's stored scan) becomes a small job
that runs the seeded nodule segmentation (``lungseg.inference.nodules``, the code of ``lungseg nodule``)
on the analysis's de-identified upload, and a row in the nodule table.

- ``queue_nodule``: checks (the analysis is a finished CT, the point lies in the scan, at most
  ``Settings.max_nodules`` per analysis) and adds the ``nodules`` row with its job (``jobs.nodule_id``);
  the same point clicked again returns the row it already has.
- ``run_nodule``: the worker's part: ``segment_nodules`` on the stored scan at the point (no lung model:
  the analysis has the lungs), the mask kept as ``nodules/<id>.npz`` (its bounding box) in the analysis
  folder, the row (``NoduleResult.to_dict()``) returned for the database. A click on no nodule is a row
  with ``found`` false and the reason, not an error.
- ``label_volume`` / ``paint_section``: the analysis's label map with every found nodule as label 7
  (``lungseg.labels.NODULE``), for the viewer's overlay (NIfTI) and the server-drawn slices.

Voxel indices are those of the stored (Z, Y, X) array read back as X, Y, Z: the viewer's ``ct.nii.gz`` is
that array on the same grid (``results._write_viewer_ct``), and a 2D upload is one slice (z = 0).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lungseg.inference.core.study import load_study
from lungseg.inference.nodules.report import LUNG_RADS_NOTE
from lungseg.inference.nodules.seeded import NoduleSegmenter
from lungseg.inference.nodules.study import segment_nodules
from lungseg.inference.routing.route import XRAY_MODEL
from lungseg.labels import NODULE, SPLIT_LUNGS
from lungseg.screening import DISCLAIMER
from lungseg.web import results
from lungseg.web.models import Analysis, Job, Nodule
from lungseg.web.result_folder import RESULT
from lungseg.web.schemas import JobStatus

FOLDER = "nodules"  # in the analysis folder, beside input/ and result/
NOT_FOUND = "no nodule found at or near the point"  # the seeded segmenter's own words
TABLE_NOTE = f"{LUNG_RADS_NOTE}. {DISCLAIMER}"


class NoduleRefused(Exception):
    """Why a point cannot be measured (``status``: the HTTP status the routes answer with)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def refusal(analysis: Analysis) -> str | None:
    """Why nodules cannot be measured on this analysis, else None."""
    summary = analysis.summary or {}
    if analysis.job.state != "done":
        return "the analysis is not finished yet"
    if "classification" in summary:
        return "nodules are measured on a segmented CT, not on a classified picture"
    if XRAY_MODEL in summary.get("models", []):
        return "nodules are measured on CT; this is a chest radiograph"
    return None


def stored_shape(folder: Path) -> tuple[int, int, int] | None:
    """(Z, Y, X) of the viewer's copy of the stored scan (``ct.nii.gz``, or ``slice.npy`` of a 2D upload)."""
    result = folder / RESULT
    if (result / "slice.npy").is_file():
        shape = np.load(result / "slice.npy", mmap_mode="r").shape
        return (1, int(shape[0]), int(shape[1]))
    if (result / "ct.nii.gz").is_file():
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(result / "ct.nii.gz"))
        reader.ReadImageInformation()
        x, y, z = reader.GetSize()
        return (int(z), int(y), int(x))
    return None


def queue_nodule(db: Session, results_dir: Path, analysis: Analysis, point: tuple[int, int, int], limit: int) -> Nodule:
    """The nodule row (with a queued job) for ``point`` (x, y, z); ``NoduleRefused`` says why not. The same
    point clicked again (its job not failed) is the row already there."""
    why = refusal(analysis)
    if why is not None:
        raise NoduleRefused(409, why)
    x, y, z = point
    shape = stored_shape(results.analysis_dir(results_dir, analysis.user_id, analysis.id))
    if shape is None:
        raise NoduleRefused(409, "this analysis has no stored scan to measure on")
    if not all(0 <= v < n for v, n in zip((z, y, x), shape)):
        raise NoduleRefused(
            422, f"the point (x={x}, y={y}, z={z}) lies outside the scan of {shape[2]} x {shape[1]} x {shape[0]} voxels"
        )
    same = db.scalar(
        select(Nodule).where(Nodule.analysis_id == analysis.id, Nodule.x == x, Nodule.y == y, Nodule.z == z)
    )
    if same is not None and same.job.state != "failed":
        return same
    if len(analysis.nodules) >= limit:
        raise NoduleRefused(409, f"at most {limit} nodules per analysis: delete one from the table first")
    nodule = Nodule(analysis=analysis, x=x, y=y, z=z)
    nodule.job = Job(stage="waiting for a worker")
    db.add(nodule)
    db.commit()
    return nodule


def row(nodule: Nodule) -> dict:
    """A row of the nodule table (and of the API): the point, the job, and when done the measures."""
    job = nodule.job
    out: dict = {
        "id": nodule.id,
        "point": {"x": nodule.x, "y": nodule.y, "z": nodule.z},
        "created_at": nodule.created_at.isoformat(timespec="seconds"),
        "job": JobStatus(
            state=job.state, progress=round(job.progress, 3), stage=job.stage, attempts=job.attempts, error=job.error
        ).model_dump(),
    }
    if job.state == "done" and nodule.result is not None:
        out.update(nodule.result)
        if not out.get("found") and out.get("reason") is None:
            out["reason"] = NOT_FOUND
    elif job.state == "failed":
        out.update(found=False, reason=job.error or "the measurement failed")
    return out


def rows(analysis: Analysis) -> dict:
    """The analysis's nodule table with the notes that go with it."""
    return {
        "nodules": [row(n) for n in analysis.nodules],
        # growth against another analysis of the same study label (web.growth); None without a label
        "compare_base": f"/analyses/{analysis.id}/nodules" if analysis.study_label else None,
        "lung_rads_note": LUNG_RADS_NOTE,
        "disclaimer": DISCLAIMER,
    }


# --- the worker's part ------------------------------------------------------------------------------------

_segmenters: dict[str, NoduleSegmenter] = {}
_lock = threading.Lock()


def nodule_segmenter(model: str) -> NoduleSegmenter:
    """The nodule segmenter of ``model`` (a shipped name, a checkpoint or .onnx), loaded once per process."""
    with _lock:
        if model not in _segmenters:
            _segmenters[model] = NoduleSegmenter.load(model)
        return _segmenters[model]


def mask_path(folder: Path, nodule_id: str) -> Path:
    return folder / FOLDER / f"{nodule_id}.npz"


def run_nodule(folder: Path, input_path: Path, nodule_id: str, point: tuple[int, int, int], model: str) -> dict:
    """Segment the nodule at ``point`` (x, y, z) in the stored upload, keep its mask, return its row."""
    study = load_study(input_path)
    found = segment_nodules(study, [point], segmenter=nodule_segmenter(model), lung_model=None)
    (nodule,) = found.nodules
    result = nodule.to_dict()
    result["warnings"] = [*found.warnings, *nodule.warnings]
    result["spacing_mm"] = [round(float(s), 4) for s in found.spacing]
    if nodule.found:
        result["side"] = _side(folder, nodule.mask)
        _save_mask(mask_path(folder, nodule_id), nodule.mask)
    else:
        result["reason"] = nodule.reason or NOT_FOUND
    return result


def _save_mask(path: Path, mask: np.ndarray) -> None:
    """The mask's bounding box and its offset in the (Z, Y, X) scan, written whole or not at all."""
    where = np.argwhere(mask)
    low, high = where.min(0), where.max(0) + 1
    box = mask[tuple(slice(a, b) for a, b in zip(low, high))]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        np.savez_compressed(out, offset=low, shape=np.array(mask.shape), mask=np.packbits(box), box=box.shape)
    os.replace(temporary, path)


def _load_mask(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None:
    """(offset (z, y, x), box mask, scan shape) of a stored nodule mask, else None."""
    try:
        with np.load(path) as data:
            box = tuple(int(n) for n in data["box"])
            mask = np.unpackbits(data["mask"], count=int(np.prod(box))).reshape(box).astype(bool)
            return data["offset"], mask, tuple(int(n) for n in data["shape"])
    except (OSError, KeyError, ValueError):
        return None


def _side(folder: Path, mask: np.ndarray) -> str | None:
    """The lung the nodule lies in: the lung label most frequent in its bounding box grown by 3 voxels in
    plane (a juxtapleural nodule is outside the lung mask but beside it), from the analysis's label map;
    None when neither lung is there."""
    labels = _labels(folder)
    if labels is None or labels.shape != mask.shape:
        return None
    where = np.argwhere(mask)
    low, high = where.min(0) - (0, 3, 3), where.max(0) + (1, 4, 4)
    box = labels[tuple(slice(max(0, int(a)), int(b)) for a, b in zip(low, high))]
    counts = {c.name: int((box == c.value).sum()) for c in SPLIT_LUNGS}
    name, most = max(counts.items(), key=lambda item: item[1])
    return name if most else None


def _labels(folder: Path) -> np.ndarray | None:
    result = folder / RESULT
    if (result / "labels.npy").is_file():
        return np.load(result / "labels.npy")[None]
    if (result / "labels.nii.gz").is_file():
        import SimpleITK as sitk

        return sitk.GetArrayFromImage(sitk.ReadImage(str(result / "labels.nii.gz")))
    return None


# --- the overlay ------------------------------------------------------------------------------------------


def found_masks(folder: Path, nodule_ids: list[str]) -> list[tuple[np.ndarray, np.ndarray, tuple[int, ...]]]:
    masks = []
    for nodule_id in nodule_ids:
        loaded = _load_mask(mask_path(folder, nodule_id))
        if loaded is not None:
            masks.append(loaded)
    return masks


def paint(labels: np.ndarray, folder: Path, nodule_ids: list[str]) -> np.ndarray:
    """``labels`` (Z, Y, X) with the nodules' voxels set to ``NODULE`` (in place; returned)."""
    for offset, mask, shape in found_masks(folder, nodule_ids):
        if tuple(shape) != labels.shape:
            continue
        window = labels[tuple(slice(int(o), int(o) + n) for o, n in zip(offset, mask.shape))]
        window[mask] = NODULE.value
    return labels


def paint_section(section: np.ndarray, folder: Path, nodule_ids: list[str], axis: int, index: int) -> np.ndarray:
    """One slice of the label map (``axis`` 0, 1, 2 of the (Z, Y, X) scan at ``index``) with the nodules."""
    section = section.copy()
    for offset, mask, _shape in found_masks(folder, nodule_ids):
        start = int(offset[axis])
        if not start <= index < start + mask.shape[axis]:
            continue
        cut = np.take(mask, index - start, axis=axis)
        rest = [int(o) for a, o in enumerate(offset) if a != axis]
        window = section[rest[0] : rest[0] + cut.shape[0], rest[1] : rest[1] + cut.shape[1]]
        window[cut] = NODULE.value
    return section


def label_volume(folder: Path, nodule_ids: list[str]) -> bytes:
    """The analysis's label map (NIfTI, gzip) with the found nodules as label 7, on the same grid."""
    import SimpleITK as sitk

    source = folder / RESULT / "labels.nii.gz"
    image = sitk.ReadImage(str(source))
    painted = sitk.GetImageFromArray(paint(sitk.GetArrayFromImage(image).astype(np.uint8), folder, nodule_ids))
    painted.CopyInformation(image)
    (folder / FOLDER).mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder / FOLDER) as scratch:
        path = Path(scratch) / "labels.nii.gz"
        sitk.WriteImage(painted, str(path), useCompression=True)
        return path.read_bytes()
