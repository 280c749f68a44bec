"""``lungseg predict`` end to end: studies in, label files (NIfTI/NRRD/PNG/DICOM-SEG), overlays and JSON
reports out.

INPUT is one study (a DICOM folder or file, a volume file, a 2D image) or a folder of studies (batch
mode: each volume file, image file and sub-folder is a study; other files are skipped with a note).
A study that fails or is refused is reported with its reason and the others still run.

Before any study is read, every output path is checked (``plan_targets``): none may be one of the
inputs or lie inside an input folder (the batch folder, a DICOM series folder), two studies may not
write the same file, and each path must be creatable. A study's files (mask, overlays, report) are
staged and renamed into place together once all are written, so a failure leaves every earlier
output as it was and no temporary file behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungseg import __version__
from lungseg.errors import InputError, LungsegError, describe
from lungseg.findings import Level
from lungseg.inference.core.study import is_study_path, load_study, study_name
from lungseg.inference.core.verdict import REFUSED, refused_verdict
from lungseg.inference.ct.segmenter import SegmentationResult
from lungseg.inference.outputs.files import write_outputs
from lungseg.inference.routing.route import with_choice
from lungseg.io import (
    IMAGE_SUFFIXES,
    VOLUME_SUFFIXES,
    check_file_target,
    check_folder_target,
    file_kind,
    holds_dicom,
    refuse_overwriting_inputs,
    staged_writes,
    write_text_atomic,
)
from lungseg.labels import LEFT_LUNG, RIGHT_LUNG
from lungseg.screening import DISCLAIMER

FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd", "png": ".png", "dicom-seg": ".dcm"}
NOT_OUTPUT_SUFFIXES = tuple(
    s for s in IMAGE_SUFFIXES + VOLUME_SUFFIXES + (".json", ".csv", ".npy", ".npz", ".txt") if s not in FORMATS.values()
)
FAILED = ("refused", "error")  # row statuses of studies without outputs


@dataclass(frozen=True)
class Target:
    """One study and where its outputs go (``mask`` plus siblings named from ``base``)."""

    source: Path
    mask: Path
    format: str

    @property
    def base(self) -> Path:
        return self.mask.with_name(self.mask.name[: -len(FORMATS[self.format])])

    def sibling(self, suffix: str) -> Path:
        """An output named after the mask: ``<base><suffix>`` (``_axial.png``, ``_report.json``, ...)."""
        return self.base.with_name(self.base.name + suffix)

    def outputs(self, overlay: bool, report: bool) -> list[Path]:
        """Every file this target writes with these options."""
        overlays = ["_overlay.png"] if _is_2d(self.source) else ["_axial.png", "_coronal.png"]
        return (
            [self.mask]
            + [self.sibling(s) for s in overlays if overlay]
            + ([self.sibling("_report.json")] if report else [])
        )


def plan_targets(
    source: str | Path, output: str | Path, fmt: str = "auto", overlay: bool = False, report: bool = False
) -> tuple[list[Target], list[str]]:
    """Map INPUT and OUTPUT to targets and check every output path (module docstring); returns the
    targets and notes about skipped files."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"--format must be auto or one of {', '.join(FORMATS)}, got {fmt!r}")
    source, output = Path(source), Path(output)
    if not source.exists():
        raise InputError(source, "input not found")
    studies, notes = _studies(source)
    targets = _targets(source, output, fmt, studies)
    _check_outputs(source, output, targets, overlay, report)
    return targets, notes


def finish_batch(rows: list[dict], targets: list[Target], output: str | Path) -> int:
    """Write ``summary.json`` when there are several studies; return the exit code: 0 when every study
    succeeded, 2 when none did, 1 for a partial batch."""
    summary = summary_path(targets, Path(output))
    if summary is not None:
        write_text_atomic(summary, json.dumps(rows, indent=2))
    failed = sum(1 for row in rows if row["status"] in FAILED)
    return 0 if not failed else 2 if failed == len(rows) else 1


def summary_path(targets: list[Target], output: Path) -> Path | None:
    """Where the batch summary goes (only when there are several studies)."""
    return output / "summary.json" if len(targets) > 1 else None


def _targets(source: Path, output: Path, fmt: str, studies: list[Path]) -> list[Target]:
    suffix_format = next((name for name, suffix in FORMATS.items() if output.name.lower().endswith(suffix)), None)
    if suffix_format is None and output.name.lower().endswith(NOT_OUTPUT_SUFFIXES) and not output.is_dir():
        raise InputError(
            output,
            f"{output.suffix} is not an output format; name the mask {' or '.join(FORMATS.values())}, or give a folder",
        )
    if len(studies) == 1 and source == studies[0] and suffix_format is not None:
        if fmt != "auto" and fmt != suffix_format:
            raise InputError(output, f"the suffix says {suffix_format} but --format is {fmt}")
        _check_format(source, suffix_format)
        return [Target(source, output, suffix_format)]
    if suffix_format is not None and source.is_dir() and studies != [source]:
        raise InputError(output, "INPUT is a folder of studies, so OUTPUT must be a folder")
    targets = []
    for study in studies:
        chosen = fmt if fmt != "auto" else ("png" if _is_2d(study) else "nifti")
        _check_format(study, chosen)
        targets.append(Target(study, output / f"{study_name(study)}{FORMATS[chosen]}", chosen))
    return targets


def _check_outputs(source: Path, output: Path, targets: list[Target], overlay: bool, report: bool) -> None:
    single_file = len(targets) == 1 and targets[0].mask == output
    (check_file_target if single_file else check_folder_target)(output)
    planned = [(target, path) for target in targets for path in target.outputs(overlay, report)]
    written: dict[Path, Path] = {}
    for target, path in planned:
        key = Path(str(path.resolve()).lower())  # also catches names that differ only in case
        if key in written:
            raise InputError(
                path,
                f"both {written[key]} and {target.source} would write this file; "
                "rename one of them or run them separately",
            )
        written[key] = target.source
        if path.is_dir():
            raise InputError(path, "is an existing folder where an output file goes")
    summary = summary_path(targets, output)
    inputs = [file for target in targets for file in _input_files(target.source)]
    folders = [target.source for target in targets if target.source.is_dir()] + ([source] if source.is_dir() else [])
    outputs = [path for _, path in planned] + ([summary] if summary else [])
    refuse_overwriting_inputs(outputs + [output], inputs, folders)


def _input_files(study: Path) -> list[Path]:
    return [study] if study.is_file() else [p for p in study.rglob("*") if p.is_file()]


def _check_format(study: Path, fmt: str) -> None:
    """Refuse a format that cannot hold this study's result before any work is done."""
    if fmt == "png" and not _is_2d(study):
        raise InputError(study, "--format png is for 2D slices; write volumes as nifti, nrrd or dicom-seg")
    if fmt == "dicom-seg" and not (study.is_dir() or file_kind(study) == "dicom"):
        raise InputError(
            study, "--format dicom-seg needs a DICOM source series (this input is not DICOM); use nifti, nrrd or png"
        )


def _studies(source: Path) -> tuple[list[Path], list[str]]:
    if source.is_file() or holds_dicom(source):
        return [source], []
    entries = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    studies = [p for p in entries if is_study_path(p)]
    skipped = [p.name for p in entries if p not in studies]
    if not studies:
        raise InputError(source, "no image files found (nor DICOM series or NIfTI/NRRD/MHA volumes)")
    notes = (
        [f"skipped {len(skipped)} entries that are not images, volumes or DICOM: {', '.join(skipped[:5])}"]
        if skipped
        else []
    )
    return studies, notes


def _is_2d(path: Path) -> bool:
    return path.is_file() and file_kind(path) != "volume"


def run_targets(
    segmenter,
    targets: list[Target],
    model_name: str,
    overlay: bool = False,
    report: bool = False,
    advance: Callable[[], None] | None = None,
) -> list[dict]:
    """Segment every target with ``segmenter`` (a ``Segmenter``, ``RadiographSegmenter`` or
    ``AutoSegmenter``, which picks CT or X-ray per study) and write its outputs; returns one summary row
    per study. An error in one
    study (refused input, unreadable file, a failed write, anything else) becomes its row's message."""
    rows = []
    for target in targets:
        start = time.perf_counter()
        try:
            study = load_study(target.source)
            choice = segmenter.choose(study)
            result = with_choice(choice.segmenter.segment(study), choice)
            name = choice.model or model_name
            with staged_writes() as stage:
                written = write_outputs(
                    result, target, overlay, report, name, report_fields(choice.segmenter, name, start), stage
                )
            row = _row(target, result, written, time.perf_counter() - start)
            row["model"] = name
            if choice.reason is not None:
                row["model_reason"] = choice.reason
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


def report_fields(segmenter, model_name: str, start: float) -> dict:
    predictor = segmenter.predictor
    return {
        "lungseg_version": __version__,
        "model": model_name,
        "model_spec": predictor.card.spec.to_dict(),
        "backend": predictor.backend.name,
        "runs_on": predictor.runs_on,
        "threshold": predictor.threshold,
        "tta": segmenter.tta,
        "postprocess": segmenter.options.to_dict(),
        "started": start,
        "disclaimer": DISCLAIMER,
    }


def _row(target: Target, result: SegmentationResult, written: list[Path], seconds: float) -> dict:
    measurements = result.measurements
    warnings = [f.message for f in result.findings if f.level == Level.WARN]
    row = {
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
        row["lesion_summary"] = lesion_summary(result)
    return row


def lesion_summary(result: SegmentationResult) -> str:
    """One line: per lesion class its size, and per lung the share affected with its severity band."""
    parts = []
    for label, size, _ in result.lesions.classes:
        amount = (
            f"{size.volume_ml:g} mL"
            if size.volume_ml is not None
            else f"{size.area_mm2:g} mm2"
            if size.area_mm2 is not None
            else f"{size.voxels} px"
        )
        parts.append(f"{label.name} {amount}")
    for lung, (percent, band) in result.lesions.lungs.items():
        parts.append(f"{lung.replace('_', ' ')} {percent:g} % affected (band {band})")
    for label, components in result.lesions.components:
        if components:
            largest = components[0]
            parts.append(
                f"{len(components)} {label.name} component(s), largest {largest.longest_diameter:.1f} "
                f"{largest.diameter_unit} across"
            )
    return "; ".join(parts)


def _volume(region) -> float | None:
    return region.volume_ml if region is not None else None


def _area(region) -> float | None:
    return region.area_cm2 if region is not None else None
