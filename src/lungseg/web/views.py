"""What the result page shows beyond the files: job status, plain-language next steps, and slice images
for the fallback viewer (and 2D uploads), drawn by the same display module as the CLI's overlays."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from fastapi import HTTPException

from lungseg.inference.outputs.report import read_report
from lungseg.io import read_mask
from lungseg.preprocessing.display import label_overlay, to_display
from lungseg.web import nodules, results
from lungseg.web.models import Analysis, Job
from lungseg.web.schemas import JobStatus

PLANES = ("axial", "coronal", "sagittal")


def job_status(job: Job) -> JobStatus:
    return JobStatus(
        state=job.state, progress=round(job.progress, 3), stage=job.stage, attempts=job.attempts, error=job.error
    )


def next_steps(analysis: Analysis) -> list[str]:
    """Plain-language suggestions tied to what was found; never a diagnosis."""
    job, summary = analysis.job, analysis.summary or {}
    if job.state == "failed":
        return [
            "The analysis could not be completed. Check the message above; if the scan is a chest CT, "
            "try again or contact the site administrator."
        ]
    if job.state != "done":
        return []
    if "classification" in summary:
        return classification_steps(summary)
    steps = []
    quality = summary.get("quality", {})
    warnings = [f for f in summary.get("findings", []) if f.get("level") == "warn"]
    verdict = summary.get("verdict") or {}
    if verdict.get("status") == "check":
        steps.append(
            "The verdict is 'check': a person must look at what the reasons name (and where) before "
            "anything from this result is used."
        )
    if quality.get("flagged") or not quality.get("plausible", True):
        steps.append(
            "The automatic segmentation has low confidence. Have it reviewed manually before using the "
            "volumes, and consider whether the scan should be repeated."
        )
    if warnings:
        steps.append(
            "The input check raised warnings (listed above). Review them; measurements may be partial or approximate."
        )
    if not steps and verdict.get("status", "ok") == "ok":
        steps.append(
            "The segmentation passed the automatic checks. A radiologist should still review the overlay "
            "before the measurements are used."
        )
    steps.append("This is screening support only, not a diagnosis: discuss any concern with a physician.")
    return steps


def classification_steps(summary: dict) -> list[str]:
    result = summary["classification"]
    steps = []
    if result.get("flagged_not_chest_ct"):
        steps.append(
            "The picture did not look like an axial chest CT slice (see the checks above): the cancer-type "
            "label is not meaningful for it."
        )
    elif result.get("confidence", 0) < 0.6:
        steps.append(
            "The model is unsure (calibrated confidence below 60 %). Do not rely on the label; have the "
            "images reviewed by a radiologist."
        )
    steps.append(
        "A cancer type can only be established by histology. This label from a single slice is "
        "screening support for research, not a diagnosis: discuss any concern with a physician."
    )
    return steps


@lru_cache(maxsize=2)
def _volumes(folder: str, stamp: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(Z, Y, X) CT in HU, labels and (z, y, x) spacing of a finished volume analysis (cached)."""
    import SimpleITK as sitk

    result = Path(folder) / results.RESULT
    image = sitk.ReadImage(str(result / "ct.nii.gz"))
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(result / "labels.nii.gz")))
    return sitk.GetArrayFromImage(image), labels, tuple(reversed(image.GetSpacing()))


def _arrays(folder: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    result = folder / results.RESULT
    if (result / "slice.npy").is_file():
        if (result / "labels.npy").is_file():
            labels = np.load(result / "labels.npy")
        else:  # an analysis stored before labels.npy: the 0/255 mask, without sides
            labels = read_mask(result / "labels.png").astype(np.uint8) if (result / "labels.png").is_file() else None
        ct = np.load(result / "slice.npy")
        return ct[None], (labels if labels is not None else np.zeros(ct.shape, np.uint8))[None], (1.0, 1.0, 1.0)
    if not (result / "ct.nii.gz").is_file():
        raise HTTPException(404)
    return _volumes(str(folder), (result / "ct.nii.gz").stat().st_mtime)


def slice_counts(folder: Path) -> dict[str, int]:
    """Slices per plane of the stored (Z, Y, X) arrays (the fallback viewer's slider ranges)."""
    try:
        shape = _arrays(folder)[0].shape
    except HTTPException:
        return {plane: 0 for plane in PLANES}
    return dict(zip(PLANES, (int(n) for n in shape)))


def _section(folder: Path, plane: str, index: int) -> tuple[np.ndarray, np.ndarray, int, int, tuple]:
    """The CT and label section of ``plane`` at ``index`` (-1: the middle; clipped to the last), in the
    file's (Z, Y, X) order, unflipped; with its axis, the index used and the spacing. A single slice has
    only the axial plane."""
    if plane not in PLANES:
        raise HTTPException(422, f"plane must be one of {', '.join(PLANES)}")
    ct, labels, spacing = _arrays(folder)
    axis = PLANES.index(plane) if ct.shape[0] > 1 else 0
    size = ct.shape[axis]
    index = size // 2 if index < 0 else min(index, size - 1)
    take: list[slice | int] = [slice(None)] * 3
    take[axis] = index
    return ct[tuple(take)], labels[tuple(take)], axis, index, spacing


def render_slice(folder: Path, plane: str, index: int, opacity: float, nodule_ids: list[str] | None = None) -> bytes:
    """One slice of the CT with the label overlay as PNG bytes; ``index`` -1 is the middle slice; the
    nodules of ``nodule_ids`` drawn as label 7 (``web.nodules``).
    Arrays are in the file's own (Z, Y, X) order; coronal and sagittal are flipped so superior is up."""
    from PIL import Image

    image, label, axis, index, spacing = _section(folder, plane, index)
    if nodule_ids:
        label = nodules.paint_section(label, folder, nodule_ids, axis, index)
    if axis != 0:
        image, label = image[::-1], label[::-1]
    rgb = Image.fromarray(label_overlay(to_display(image), label, alpha=float(np.clip(opacity, 0, 1))))
    rows_mm, columns_mm = [spacing[a] for a in range(3) if a != axis]
    if abs(rows_mm - columns_mm) > 1e-3:  # square pixels on screen: stretch rows to their true height
        rgb = rgb.resize((rgb.width, max(1, round(rgb.height * rows_mm / columns_mm))), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return buffer.getvalue()


def value_at(folder: Path, plane: str, index: int, fx: float, fy: float) -> tuple[float, int]:
    """The stored CT value and label under a point of the slice picture ``render_slice`` draws: ``fx``,
    ``fy`` in 0..1 of its width and height (so the picture's size on screen, its row stretch and the
    flip of coronal and sagittal views do not matter)."""
    image, label, axis, _, _ = _section(folder, plane, index)
    rows, columns = image.shape
    row = min(rows - 1, max(0, int(np.clip(fy, 0, 1) * rows)))
    column = min(columns - 1, max(0, int(np.clip(fx, 0, 1) * columns)))
    if axis != 0:  # drawn flipped so superior is up
        row = rows - 1 - row
    return float(image[row, column]), int(label[row, column])


THUMBNAIL = "thumbnail.png"
THUMBNAIL_PX = 64


def thumbnail_png(folder: Path) -> bytes:
    """A ``THUMBNAIL_PX`` square picture of a finished result: the middle coronal slice of a volume (both
    lungs and their height), the slice or film itself, or a classified picture; made once and kept with
    the result (404 when the result has no picture)."""
    from PIL import Image

    from lungseg.io import atomic_path

    result = folder / results.RESULT
    if (result / THUMBNAIL).is_file():
        return (result / THUMBNAIL).read_bytes()
    if (result / "picture.png").is_file():
        picture = Image.open(result / "picture.png").convert("RGB")
    else:
        plane = "coronal" if (result / "ct.nii.gz").is_file() else "axial"
        picture = Image.open(io.BytesIO(render_slice(folder, plane, -1, 0.45))).convert("RGB")
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    square = Image.new("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
    square.paste(picture, ((THUMBNAIL_PX - picture.width) // 2, (THUMBNAIL_PX - picture.height) // 2))
    buffer = io.BytesIO()
    square.save(buffer, format="PNG")
    with atomic_path(result / THUMBNAIL) as temporary:
        Path(temporary).write_bytes(buffer.getvalue())
    return buffer.getvalue()


def agreement_chart(folder: Path) -> bytes:
    """Per-slice flip agreement (the quality signal) against slice number, as a small PNG: the slices
    judged for flagging (``inference.core.quality.JUDGED_SHARE``) in blue, those under the threshold (the
    report's ``flagged_slices``, listed beside the chart) in orange, and the slices with too little lung
    to be judged (apex, trachea, bases) as grey dots."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    report = folder / results.RESULT / results.REPORT
    if not report.is_file():
        raise HTTPException(404)
    quality = read_report(report).quality
    rows = [r for r in quality.per_slice if r.lung_pixels]
    threshold = quality.threshold  # the one the analysis was flagged with
    flagged = set(quality.flagged_slices)
    judged = [r for r in rows if r.judged]
    small = [r for r in rows if not r.judged]
    figure = Figure(figsize=(7, 2.2), dpi=100)
    axes = figure.add_subplot()
    axes.plot(
        [r.slice for r in judged],
        [r.flip_agreement for r in judged],
        ".-",
        color="#1f5fa8",
        lw=1,
        ms=3,
        label="judged slices",
    )
    if small:
        axes.plot(
            [r.slice for r in small],
            [r.flip_agreement for r in small],
            ".",
            color="#aaaaaa",
            ms=3,
            label="too little lung to judge",
        )
    marked = [r for r in judged if r.slice in flagged]
    if marked:
        axes.plot(
            [r.slice for r in marked],
            [r.flip_agreement for r in marked],
            "o",
            color="#d04a00",
            ms=5,
            label="flagged",
        )
    axes.axhline(threshold, color="#b35c00", lw=1, ls="--", label=f"flag threshold {threshold:.2f}")
    axes.set(
        xlabel="axial slice (inferior → superior)",
        ylabel="agreement",
        ylim=(min(0.5, *[r.flip_agreement for r in rows] or [0.5]) - 0.02, 1.01),
    )
    axes.legend(loc="lower right", fontsize=7, frameon=False, ncol=2)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
