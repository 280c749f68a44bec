"""Where ``lungseg predict`` writes: INPUT and OUTPUT mapped to one ``Target`` per study, every output
path checked before any study is read.

INPUT is one study (a DICOM folder or file, a volume file, a 2D image) or a folder of studies (batch
mode: each volume file, image file and sub-folder is a study; other files are skipped with a note).
No output may be one of the inputs or lie inside an input folder (the batch folder, a DICOM series
folder), two studies may not write the same file, and each path must be creatable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lungseg.errors import InputError
from lungseg.inference.core.study import is_study_path, study_name
from lungseg.io import (
    IMAGE_SUFFIXES,
    VOLUME_SUFFIXES,
    check_file_target,
    check_folder_target,
    file_kind,
    holds_dicom,
    refuse_overwriting_inputs,
)

FORMATS = {"nifti": ".nii.gz", "nrrd": ".nrrd", "png": ".png", "dicom-seg": ".dcm"}
NOT_OUTPUT_SUFFIXES = tuple(
    s for s in IMAGE_SUFFIXES + VOLUME_SUFFIXES + (".json", ".csv", ".npy", ".npz", ".txt") if s not in FORMATS.values()
)


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
