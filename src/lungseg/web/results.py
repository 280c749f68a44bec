"""One analysis's files on disk, and running the segmentation that fills them.

Layout under ``DATA_DIR/analyses/<user id>/<analysis id>/``: ``input/`` (the de-identified upload) and
``result/`` (everything below), which appears only complete: the files are written to a temporary
folder that is renamed to ``result`` at the end (``web.result_folder``), so a crash never leaves a
half-written result.
The CLI's own code makes every file (``lungseg.inference``): the label map, DICOM-SEG, overlay
montages and the JSON report are those of ``lungseg predict``; ``ct.nii.gz`` is the input as int16
NIfTI on the label map's grid, for the viewer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lungseg.inference.batch.targets import Target
from lungseg.inference.core.backends import gpu_present
from lungseg.inference.core.pipeline import run_study
from lungseg.inference.core.postprocess import PostprocessOptions
from lungseg.inference.core.protocol import Choice, Segmenter
from lungseg.inference.core.study import load_study
from lungseg.inference.outputs.files import write_outputs
from lungseg.inference.outputs.report import StudyReport, read_report
from lungseg.inference.routing.load import load_segmenter
from lungseg.io import staged_writes
from lungseg.labels import legend
from lungseg.screening import DISCLAIMER
from lungseg.web import classification, pacs, reference
from lungseg.web.result_folder import RESULT, result_staging
from lungseg.web.wording import plain


@dataclass(frozen=True)
class Download:
    name: str  # URL name
    filename: str  # in the result folder
    media_type: str
    label: str


DOWNLOADS = (
    Download("labels-nifti", "labels.nii.gz", "application/gzip", "Label map (NIfTI)"),
    Download("labels-png", "labels.png", "image/png", "Label map (PNG)"),
    Download("dicom-seg", "labels_seg.dcm", "application/dicom", "DICOM SEG"),
    Download("dicom-seg-pacs", "labels_seg_pacs.dcm", "application/dicom", "DICOM SEG for your PACS (original UIDs)"),
    Download("axial", "labels_axial.png", "image/png", "Axial overlay montage"),
    Download("coronal", "labels_coronal.png", "image/png", "Coronal overlay montage"),
    Download("overlay", "labels_overlay.png", "image/png", "Overlay"),
    Download("report", "labels_report.json", "application/json", "Report (JSON)"),
    Download("ct", "ct.nii.gz", "application/gzip", "CT (NIfTI, de-identified)"),
    Download("heat-map", "heat_map.png", "image/png", "Grad-CAM heat map"),
    Download("picture", "picture.png", "image/png", "Picture as classified"),
    Download("classification", "classification.json", "application/json", "Classification (JSON)"),
)
REPORT = "labels_report.json"
Progress = Callable[[float, str], None]


def analysis_dir(results_dir: Path, user_id: str, analysis_id: str) -> Path:
    return results_dir / user_id / analysis_id


def available(folder: Path) -> list[Download]:
    result = folder / RESULT
    return [d for d in DOWNLOADS if (result / d.filename).is_file()]


_cache: dict[str, Segmenter] = {}
_cache_lock = threading.Lock()


def segmenter_for(model: str, options: dict | None = None) -> Segmenter:
    """The segmenter for ``model`` (``auto``: CT or X-ray per upload; ``inference.routing``) with the
    analysis's ``options`` (``schemas.AnalysisOptions`` fields); the models are loaded once per process
    (loading ONNX takes about a second)."""
    with _cache_lock:
        if model not in _cache:
            _cache[model] = load_segmenter(model)
        default = _cache[model]
    if not options:
        return default
    postprocess = PostprocessOptions(
        keep_largest=options.get("keep_largest", True),
        fill_holes_3d=options.get("fill_holes", True),
        fill_holes_2d=options.get("fill_holes_2d", False),
        smooth_radius=int(options.get("smooth", 0)),
    )
    return default.replace(postprocess=postprocess, tta=options.get("tta", True))


_screens = threading.BoundedSemaphore(2)  # uploads share the request threads: at most two screens at once


def screen_input(path: Path, model: str, kind: str = "slice") -> None:
    """Refuse, with ``InputError``, what the model would refuse, before a job is queued (seconds)."""
    with _screens:
        if classification.is_classifier(model):
            classification.screen(path, kind, model)
            return
        segmenter_for(model).screen(load_study(path))


_gpu_slots: threading.BoundedSemaphore | None = None


def gpu_slot():
    """One job per GPU at a time: a semaphore sized to the GPUs when the models run on CUDA (the rest of a
    job, reading and writing, does not need it, but its segmentation does), else no limit here."""
    from contextlib import nullcontext

    global _gpu_slots
    if not gpu_present():
        return nullcontext()
    with _cache_lock:
        if _gpu_slots is None:
            import torch

            _gpu_slots = threading.BoundedSemaphore(max(1, torch.cuda.device_count()))
    return _gpu_slots


def run_analysis(folder: Path, input_path: Path, model: str, progress: Progress, options: dict | None = None) -> dict:
    """Segment ``input_path`` and write ``folder/result``; returns the summary kept in the database. On a
    GPU machine the models run on the GPU (``--backend auto``), one job per GPU at a time."""
    if classification.is_classifier(model):
        return classification.run(folder, input_path, model, progress)
    start = time.perf_counter()
    progress(0.05, "reading the scan")
    study = load_study(input_path)

    def segmenting(choice: Choice, name: str) -> None:  # auto: the CT or X-ray model, with the reason
        progress(0.15, f"segmenting the lungs with {name}" + (" and lesions" if choice.segmenter.lesions else ""))

    run = run_study(segmenter_for(model, options), study, model, started=start, on_choice=segmenting, slot=gpu_slot)
    result = run.result
    progress(0.85, "writing the results")
    with result_staging(folder) as staging:
        formats = [("nifti", "labels.nii.gz")] if study.is_volume else [("png", "labels.png")]
        if study.dicom_files and study.is_volume:
            formats.append(("dicom-seg", "labels_seg.dcm"))
        with staged_writes() as stage:
            for index, (fmt, name) in enumerate(formats):
                first = index == 0
                write_outputs(
                    result,
                    Target(input_path, staging / name, fmt),
                    overlay=first,
                    report=first,
                    model_name=run.model,
                    report_fields=run.fields,
                    stage=stage,
                )
        _write_viewer_ct(result, staging)
        _without_server_paths(staging / REPORT)
        if (staging / "labels_seg.dcm").is_file() and (folder / pacs.MAP_FILE).is_file():
            pacs.write_pacs_seg(staging / "labels_seg.dcm", folder / pacs.MAP_FILE, staging / pacs.PACS_SEG)
    progress(1.0, "done")
    summary = summary_of(read_report(folder / RESULT / REPORT))
    references = sorted((folder / reference.FOLDER).glob("reference*"))
    if references:  # the uploaded reference mask: Dice and IoU against it (web.reference)
        labels = result.labels if isinstance(result.labels, np.ndarray) else _array(result.labels)
        summary["reference"] = reference.agreement(labels, reference.read_reference(references[0]), "reference mask")
    return summary


def _array(image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def scrub(message: str, folder: Path) -> str:
    """``message`` for a web page: without the server's paths (the analysis folder's input becomes "the
    upload") and in the form's words instead of command-line options (``plain``)."""
    for root in {folder, folder.resolve()}:
        message = message.replace(str(root / "input"), "the upload").replace(str(root), "the analysis")
    return plain(message)


def _without_server_paths(path: Path) -> None:
    """The downloadable report names files, not where the server keeps them."""
    report = read_report(path)
    outputs = tuple(Path(output).name for output in report.outputs)
    path.write_text(replace(report, input=replace(report.input, path="upload"), outputs=outputs).to_json())


def _write_viewer_ct(result, folder: Path) -> None:
    """The input as int16 HU NIfTI on the label map's grid (volumes); a slice or radiograph as arrays for
    the server-drawn view."""
    import SimpleITK as sitk

    if not result.study.is_volume:  # the picture, and the label map with its sides (labels.png is 0/255)
        np.save(folder / "slice.npy", np.asarray(result.canonical_hu[0], np.float32))
        np.save(folder / "labels.npy", np.asarray(result.canonical_labels[0], np.uint8))
        return
    image = sitk.Cast(sitk.Clamp(result.study.image, sitk.sitkFloat32, -32768, 32767), sitk.sitkInt16)
    sitk.WriteImage(image, str(folder / "ct.nii.gz"), useCompression=True)


def summary_of(report: StudyReport) -> dict:
    """What the history list and result page need without reading files (kept in the database)."""
    quality = report.quality
    return {
        "measurements": report.measurements.to_dict(),
        "quality": {
            "score": quality.score,
            "flip_agreement": quality.flip_agreement,
            "plausible": quality.plausible,
            "flagged": quality.flagged,
            "flagged_slices": list(quality.flagged_slices),
            "unjudged_below": [
                row.slice
                for row in quality.per_slice
                if row.lung_pixels and not row.judged and row.flip_agreement < quality.threshold
            ],
        },
        "verdict": report.verdict.to_dict() if report.verdict is not None else None,
        "findings": [finding.to_dict() for finding in report.findings],
        "status": report.status,
        "seconds": report.seconds,
        "labels": legend(report.classes),
        "lungseg_version": report.lungseg_version,
        "disclaimer": DISCLAIMER,
        "models": list(report.models),
        "lesions": report.lesions.to_dict() if report.lesions is not None else None,
        "kind": report.input.kind,
    }
