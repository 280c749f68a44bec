"""``lungseg predict`` end to end: studies in, label files (NIfTI/NRRD/PNG/DICOM-SEG), overlays and JSON
reports out, one summary row per study.

Every study goes through ``inference.core.pipeline.run_study`` (choose -> segment -> the choice in the
findings), as in the Python API and the web app; the targets (``batch.targets``) are planned and checked
before any study is read. A study that fails or is refused is reported with its reason and the others
still run. A study's files (mask, overlays, report) are staged and renamed into place together once all
are written, so a failure leaves every earlier output as it was and no temporary file behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lungseg.errors import InputError, LungsegError, describe
from lungseg.findings import Level
from lungseg.inference.batch.targets import Target, summary_path
from lungseg.inference.core.pipeline import run_study
from lungseg.inference.core.protocol import Segmenter
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.study import load_study
from lungseg.inference.core.verdict import REFUSED, refused_verdict
from lungseg.inference.outputs.files import write_outputs
from lungseg.io import staged_writes, write_text_atomic
from lungseg.labels import LEFT_LUNG, RIGHT_LUNG

FAILED = ("refused", "error")  # row statuses of studies without outputs


def finish_batch(rows: list[dict], targets: list[Target], output: str | Path) -> int:
    """Write ``summary.json`` when there are several studies; return the exit code: 0 when every study
    succeeded, 2 when none did, 1 for a partial batch."""
    summary = summary_path(targets, Path(output))
    if summary is not None:
        write_text_atomic(summary, json.dumps(rows, indent=2))
    failed = sum(1 for row in rows if row["status"] in FAILED)
    return 0 if not failed else 2 if failed == len(rows) else 1


def run_targets(
    segmenter: Segmenter,
    targets: list[Target],
    model_name: str,
    overlay: bool = False,
    report: bool = False,
    advance: Callable[[], None] | None = None,
) -> list[dict]:
    """Segment every target with ``segmenter`` (CT, X-ray, or ``AutoSegmenter``, which picks CT or X-ray
    per study) and write its outputs; returns one summary row per study. An error in one study (refused
    input, unreadable file, a failed write, anything else) becomes its row's message."""
    rows = []
    for target in targets:
        start = time.perf_counter()
        try:
            run = run_study(segmenter, load_study(target.source), model_name, started=start)
            with staged_writes() as stage:
                written = write_outputs(run.result, target, overlay, report, run.model, run.fields, stage)
            row = _row(target, run.result, written, time.perf_counter() - start)
            row["model"] = run.model
            if run.choice.reason is not None:
                row["model_reason"] = run.choice.reason
            rows.append(row)
        except LungsegError as exc:
            rows.append(_failure(target, "refused" if isinstance(exc, InputError) else "error", str(exc), start))
        except OSError as exc:
            rows.append(
                _failure(target, "error", f"{exc.filename or target.mask}: {exc.strerror or describe(exc)}", start)
            )
        except MemoryError:
            rows.append(_failure(target, "error", f"{target.source}: not enough memory for this study", start))
        except Exception as exc:  # one broken study must not stop the batch; the message says what happened
            rows.append(
                _failure(
                    target,
                    "error",
                    f"{target.source}: internal error ({type(exc).__name__}: {describe(exc)}); please report it",
                    start,
                )
            )
        if advance is not None:
            advance()
    return rows


def _failure(target: Target, status: str, message: str, start: float) -> dict:
    row = {
        "study": str(target.source),
        "status": status,
        "message": message,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if status == "refused":
        row.update(verdict=REFUSED, verdict_line=refused_verdict(message).line())
    return row


def _row(target: Target, result: SegmentationResult, written: list[Path], seconds: float) -> dict:
    measurements = result.measurements
    warnings = [f.message for f in result.findings if f.level == Level.WARN]
    row: dict[str, Any] = {
        "study": str(target.source),
        "status": "flagged" if result.flagged else "ok",
        "right_ml": _volume(measurements.of(RIGHT_LUNG)),
        "left_ml": _volume(measurements.of(LEFT_LUNG)),
        "right_cm2": _area(measurements.of(RIGHT_LUNG)),
        "left_cm2": _area(measurements.of(LEFT_LUNG)),
        "quality": result.quality.score,
        "message": "; ".join(warnings),
        "verdict": result.verdict.status,
        "verdict_line": result.verdict.line(),
        "outputs": [str(p) for p in written],
        "seconds": round(seconds, 2),
        "slices": int(np.asarray(result.canonical_labels).shape[0]),
    }
    if result.lesions is not None:
        row["lesion_percent"] = {lung: percent for lung, (percent, _) in result.lesions.lungs.items()}
    if result.lesions is not None or result.nodules is not None:
        row["lesion_summary"] = lesion_summary(result)
    return row


def lesion_summary(result: SegmentationResult) -> str:
    """One line: per lesion class its size, per lung the share affected with its severity band, and the
    nodules."""
    parts = []
    lesions = result.lesions
    for label, size, _ in lesions.classes if lesions else ():
        amount = (
            f"{size.volume_ml:g} mL"
            if size.volume_ml is not None
            else f"{size.area_mm2:g} mm2"
            if size.area_mm2 is not None
            else f"{size.voxels} px"
        )
        parts.append(f"{label.name} {amount}")
    for lung, (percent, band) in lesions.lungs.items() if lesions else ():
        parts.append(f"{lung.replace('_', ' ')} {percent:g} % affected (band {band})")
    for label, components in lesions.components if lesions else ():
        if components:
            largest = components[0]
            parts.append(
                f"{len(components)} {label.name} component(s), largest {largest.longest_diameter:.1f} "
                f"{largest.diameter_unit} across"
            )
    if result.nodules is not None:
        parts.append(nodule_summary(result))
    return "; ".join(parts)


def nodule_summary(result: SegmentationResult) -> str:
    """The nodules in a few words: how many, and the most probable one's size and Lung-RADS category."""
    found = [nodule for nodule in result.nodules or () if nodule.found]
    if not found:
        return "no nodule candidate"
    first = found[0].measures
    category = f", Lung-RADS {first['lung_rads']}" if first.get("lung_rads") else ""
    return (
        f"{len(found)} nodule(s), first {first['long_axis_mm']:g} x {first['short_axis_mm']:g} mm "
        f"(probability {found[0].probability:.2f}{category})"
    )


def _volume(region) -> float | None:
    return region.volume_ml if region is not None else None


def _area(region) -> float | None:
    return region.area_cm2 if region is not None else None
