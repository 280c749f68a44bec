"""``lungseg data check DIR``: find the splits and classes in a data folder and audit them.

Layouts understood (split folders are named train/training, val/valid/validation, test/testing):
- ``DIR/images`` + ``DIR/masks``: one segmentation set; with ``split`` (e.g. ``70/20/10``) it is split
  exactly as ``lungseg train`` would split it, else audited as a whole;
- ``DIR/<split>/images`` + ``DIR/<split>/masks``: segmentation sets per split;
- ``DIR/<split>/<class>/*``: a classification set per split (class counts are reported; copies of one
  slice that a hash misses, label conflicts and coloured marks are found by ``data.slice_groups``);
- ``DIR/<class>/*`` or images directly in ``DIR``: one set without splits.
Files that are not supported images are reported as problems, never skipped silently.
"""

from __future__ import annotations

from pathlib import Path

from lungseg.data.audit import AuditReport, Duplicate, ImageRecord, find_duplicates, inspect_image
from lungseg.data.class_folders import LabelledImage, read_picture
from lungseg.data.folders import SPLIT_FOLDERS, visible_entries
from lungseg.data.pairs import mask_for
from lungseg.data.slice_groups import group_slices
from lungseg.data.splits import make_split, split_has_validation
from lungseg.errors import InputError
from lungseg.io import IMAGE_SUFFIXES, MASK_SUFFIXES


def audit_folder(
    root: str | Path, split: str | None = None, seed: int = 0, group_pattern: str | None = None, mask_labels=None
) -> AuditReport:
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "data folder not found")
    notes = []
    if (root / "images").is_dir():
        records = _segmentation_records(root, "all", mask_labels)
        if split is not None:
            made = make_split([Path(r.path).stem for r in records], split, seed, group_pattern)
            _assign_split(records, made)
            if not made.val and split_has_validation(split):
                notes.append(
                    f"split {split!r} of {len(records)} images leaves the validation set empty "
                    "(`lungseg train` refuses it)"
                )
    else:
        folders = visible_entries(root, dirs=True)
        split_folders = [f for f in folders if f.name.lower() in SPLIT_FOLDERS]
        if split_folders:
            records = [r for folder in split_folders for r in _set_records(folder, folder.name, mask_labels)]
            records += [
                _problem(f, "all", "folder is not a split (train/val/test) folder")
                for f in folders
                if f not in split_folders
            ]
            records += [_problem(f, "all", "file outside the split folders") for f in visible_entries(root)]
        else:
            records = _set_records(root, "all", mask_labels)
    if not records:
        raise InputError(root, "no image files found")
    duplicates, info = find_duplicates(records), []
    if any(r.label for r in records):
        duplicates, notes, info = _add_slice_matches(root, records, duplicates, notes)
    return AuditReport(records, duplicates, notes, info)


def _add_slice_matches(root: Path, records: list[ImageRecord], duplicates: list, notes: list[str]):
    """Class-folder sets: copies of one slice the hash misses (crops, rescales, annotated copies, found by
    local features), label conflicts and coloured marks (``data.slice_groups``)."""
    readable = [r for r in records if r.label and not r.problem]
    images = [
        LabelledImage(Path(r.path).relative_to(root).as_posix(), Path(r.path), r.label, r.split) for r in readable
    ]
    read = [read_picture(item.path) for item in images]
    groups = group_slices(images, [r.gray for r in read], {i.name: r.marked_fraction for i, r in zip(images, read)})
    record_of = {item.name: record for item, record in zip(images, readable)}
    known = {frozenset((d.first, d.second)) for d in duplicates}
    for link in groups.links:
        first, second = record_of[link.first], record_of[link.second]
        if link.kind != "identical" and frozenset((first.path, second.path)) not in known:
            duplicates.append(Duplicate(first.path, second.path, first.split, second.split, link.kind, link.inliers))
    notes, info = list(notes), []
    for conflict in groups.conflicts():
        labels = sorted({groups.labels[name] for name in conflict})
        notes.append(f"label conflict: {', '.join(conflict)} are one slice filed under {', '.join(labels)}")
    counts = groups.class_counts()
    marked = {label: c["marked"] for label, c in counts.items() if c["marked"]}
    if marked:
        info.append(
            "coloured marks (painted out before classification): "
            + ", ".join(f"{label} {n} of {counts[label]['files']} files" for label, n in marked.items())
        )
    info.append(
        "distinct slices per class: "
        + ", ".join(f"{label} {c['groups']} of {c['files']} files" for label, c in counts.items())
    )
    return duplicates, notes, info


def _set_records(folder: Path, split: str, mask_labels=None) -> list[ImageRecord]:
    """A split folder: segmentation (images/ + masks/), classification (class sub-folders) or images."""
    if (folder / "images").is_dir():
        return _segmentation_records(folder, split, mask_labels)
    records = [
        record
        for class_folder in visible_entries(folder, dirs=True)
        for record in _image_records(visible_entries(class_folder), split, class_folder.name)
    ]
    return records + _image_records(visible_entries(folder), split, None)


def _segmentation_records(folder: Path, split: str, mask_labels=None) -> list[ImageRecord]:
    masks_dir = folder / "masks"
    masks = (
        {p.stem: p for p in visible_entries(masks_dir) if p.suffix.lower() in MASK_SUFFIXES}
        if masks_dir.is_dir()
        else {}
    )
    records = []
    for path in visible_entries(folder / "images"):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            records.append(_problem(path, split, f"not a supported image file ({path.suffix or 'no suffix'})"))
            continue
        mask = mask_for(path, masks)
        record = inspect_image(path, split, mask=mask, mask_labels=mask_labels)
        if mask is None and not record.problem:
            record.problem = f"no mask in {masks_dir}"
        records.append(record)
    return records


def _image_records(files: list[Path], split: str, label: str | None) -> list[ImageRecord]:
    return [
        inspect_image(path, split, label)
        if path.suffix.lower() in IMAGE_SUFFIXES
        else _problem(path, split, f"not a supported image file ({path.suffix or 'no suffix'})")
        for path in files
    ]


def _assign_split(records: list[ImageRecord], split) -> None:
    subset_of = {name: subset for subset in ("train", "val", "test") for name in getattr(split, subset)}
    for record in records:
        record.split = subset_of[Path(record.path).stem]


def _problem(path: Path, split: str, reason: str) -> ImageRecord:
    return ImageRecord(str(path), split, problem=reason)
