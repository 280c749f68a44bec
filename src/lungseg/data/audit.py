"""Data audit: duplicate and near-duplicate images within and across splits, unreadable files, size
mismatches, empty masks, intensity statistics and class counts.

Two images are *identical* when their files have the same bytes (sha256) and *near-identical* when
their perceptual hashes differ in at most ``NEAR_DISTANCE`` of 256 bits. The hash is
``imagehash.phash`` (hash size 16) of the image after a rank transform (histogram equalisation) at
256x256: ranks do not change under monotonic intensity maps, so a HU TIFF, its lung-window PNG and a
JPEG re-encode hash alike. Calibration on the 201 ct-lung-kmader slices (tests/test_audit.py): distinct
slices are at least 54 bits apart, PNG and JPEG (quality 50-85) re-encodes at most 12. A plain 64-bit
phash of the scaled image could not separate them (distinct chest slices share the circular field of
view and body outline: 4 bits apart, as close as re-encodes). A duplicate pair whose members are in different
splits is a *leak*: the
model would be scored on images it trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lungseg.io import read_image, read_mask_with_rule
from lungseg.preprocessing import intensity_kind, nonfinite_count

NEAR_DISTANCE = 24  # of 256 bits; distinct kmader slices >= 54, re-encodes <= 12 (module docstring)


@dataclass
class ImageRecord:
    path: str
    split: str
    label: str | None = None
    mask: str | None = None
    sha256: str = ""
    phash: str | None = None  # 256-bit perceptual hash, hex
    shape: tuple[int, ...] | None = None
    intensity: str | None = None
    value_range: tuple[float, float] | None = None
    mask_empty: bool | None = None
    mask_rule: str | None = None  # how the mask's values were read (binary, label map, soft), io.masks
    problem: str | None = None


@dataclass
class Duplicate:
    first: str
    second: str
    first_split: str
    second_split: str
    kind: str  # "identical" (same bytes), "near-identical" (phash distance <= NEAR_DISTANCE), or from local
    distance: int  # features (class-folder sets): "same slice" / "neighbour" with distance = RANSAC inliers

    @property
    def leak(self) -> bool:
        return self.first_split != self.second_split

    def describe(self) -> str:
        how = {
            "identical": "identical",
            "same slice": f"the same slice, cropped/rescaled/re-encoded or annotated "
            f"({self.distance} matched features)",
            "neighbour": f"neighbouring slices of one scan ({self.distance} matched features)",
        }.get(self.kind, f"near-identical (phash distance {self.distance})")
        return f"{self.first} [{self.first_split}] and {self.second} [{self.second_split}] are {how}"


@dataclass
class AuditReport:
    records: list[ImageRecord]
    duplicates: list[Duplicate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # set-level problems found by the caller (an empty split)
    info: list[str] = field(default_factory=list)  # set-level facts that are not problems (distinct slices)

    @property
    def leaks(self) -> list[Duplicate]:
        return [d for d in self.duplicates if d.leak]

    @property
    def problems(self) -> list[ImageRecord]:
        return [r for r in self.records if r.problem]

    def set_problems(self) -> list[str]:
        """Problems of the set as a whole: every mask empty, or every training mask empty."""
        found = list(self.notes)
        with_masks = [r for r in self.records if r.mask_empty is not None]
        if with_masks and all(r.mask_empty for r in with_masks):
            found.append(
                f"all {len(with_masks)} masks are empty (nothing to learn or score; label masks? see --mask-labels)"
            )
            return found
        train = [r for r in with_masks if r.split == "train"]
        if train and all(r.mask_empty for r in train):
            found.append(f"all {len(train)} masks of the 'train' split are empty")
        return found

    def split_summary(self) -> dict[str, dict]:
        """Per split: image count, problems, empty masks, HU vs 8-bit counts, value range, class counts."""
        summary = {}
        for split in dict.fromkeys(r.split for r in self.records):
            rules = Counter(r.mask_rule.split(":")[0] for r in self.records if r.split == split and r.mask_rule)
            rows = [r for r in self.records if r.split == split]
            ranges = [r.value_range for r in rows if r.value_range]
            summary[split] = {
                "images": len(rows),
                "problems": sum(1 for r in rows if r.problem),
                "empty_masks": sum(1 for r in rows if r.mask_empty),
                "hu": sum(1 for r in rows if r.intensity == "hu"),
                "8bit": sum(1 for r in rows if r.intensity == "8bit"),
                "min": min((low for low, _ in ranges), default=None),
                "max": max((high for _, high in ranges), default=None),
                "duplicates_within": sum(1 for d in self.duplicates if d.first_split == d.second_split == split),
                "classes": dict(sorted(Counter(r.label for r in rows if r.label is not None).items())),
                "mask_rules": dict(sorted(rules.items())),
            }
        return summary

    def to_dict(self) -> dict:
        return {
            "near_distance_bits": NEAR_DISTANCE,
            "splits": self.split_summary(),
            "leaks": [asdict(d) for d in self.leaks],
            "duplicates_within_splits": [asdict(d) for d in self.duplicates if not d.leak],
            "problems": [{"path": r.path, "split": r.split, "problem": r.problem} for r in self.problems],
            "set_problems": self.set_problems(),
            "info": list(self.info),
            "images": [asdict(r) for r in self.records],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def audit_split(subsets: dict[str, list], mask_labels=None) -> AuditReport:
    """Audit image/mask pairs (objects with ``.image`` and ``.mask`` paths) grouped by split name."""
    records = [
        inspect_image(pair.image, split, mask=pair.mask, mask_labels=mask_labels)
        for split, pairs in subsets.items()
        for pair in pairs
    ]
    return AuditReport(records, find_duplicates(records))


def duplicate_links(pairs: list) -> list[tuple[str, str]]:
    """Names (``pair.name``) of every identical or near-identical pair among image/mask pairs; for
    ``make_split(linked=...)``."""
    name_of = {str(pair.image): pair.name for pair in pairs}
    records = [inspect_image(pair.image, "all") for pair in pairs]
    return [(name_of[d.first], name_of[d.second]) for d in find_duplicates(records)]


def inspect_image(
    path: Path, split: str, label: str | None = None, mask: Path | None = None, mask_labels=None
) -> ImageRecord:
    """Read one image (and its mask): hashes, shape, intensity kind and range, or the problem (unreadable,
    NaN/inf pixels, blank, mask unreadable or of another size)."""
    record = ImageRecord(str(path), split, label, None if mask is None else str(mask))
    try:
        record.sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        image = read_image(path)
    except Exception as exc:  # decoders raise many types; the audit reports, it never stops
        record.problem = f"unreadable image: {getattr(exc, 'reason', exc)}"
        return record
    record.shape = tuple(int(v) for v in image.shape)
    bad = nonfinite_count(image)
    if bad:
        record.problem = f"{bad} of {image.size} pixels are NaN/infinite"
        return record
    record.intensity = intensity_kind(image)
    record.value_range = (float(image.min()), float(image.max()))
    if record.value_range[0] == record.value_range[1]:
        record.problem = f"blank image (every pixel is {record.value_range[0]:g})"  # not hashed: all blanks match
        return record
    record.phash = perceptual_hash(image)
    if mask is not None:
        _inspect_mask(record, image, Path(mask), mask_labels)
    return record


def _inspect_mask(record: ImageRecord, image: np.ndarray, mask_path: Path, mask_labels) -> None:
    try:
        mask, record.mask_rule = read_mask_with_rule(mask_path, mask_labels)
    except Exception as exc:
        record.problem = f"unreadable mask {mask_path.name}: {getattr(exc, 'reason', exc)}"
        return
    if mask.shape != image.shape:
        record.problem = (
            f"size mismatch: mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]}, "
            f"image is {image.shape[1]}x{image.shape[0]}"
        )
    record.mask_empty = not bool(mask.any())


def perceptual_hash(image: np.ndarray) -> str:
    """256-bit DCT hash (hex) of the rank-equalised image: robust to windowing and lossy re-encoding."""
    import imagehash
    from PIL import Image
    from scipy.stats import rankdata

    gray = np.asarray(image, dtype=np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=-1)
    small = np.asarray(Image.fromarray(gray).resize((256, 256), Image.BOX))
    ranks = rankdata(small.ravel()).reshape(small.shape)
    equalised = (ranks * (255.0 / ranks.max())).astype(np.uint8)
    return str(imagehash.phash(Image.fromarray(equalised), hash_size=16))


def find_duplicates(records: list[ImageRecord], near_distance: int = NEAR_DISTANCE) -> list[Duplicate]:
    """Every identical or near-identical pair among the readable records (each pair once)."""
    readable = [r for r in records if r.phash is not None]
    if len(readable) < 2:
        return []
    bits = np.unpackbits(np.array([np.frombuffer(bytes.fromhex(r.phash), np.uint8) for r in readable]), axis=1)
    found = []
    for i, record in enumerate(readable[:-1]):
        distances = np.count_nonzero(bits[i + 1 :] != bits[i], axis=1)
        for offset in np.flatnonzero(distances <= near_distance):
            other = readable[i + 1 + offset]
            identical = record.sha256 == other.sha256
            found.append(
                Duplicate(
                    record.path,
                    other.path,
                    record.split,
                    other.split,
                    "identical" if identical else "near-identical",
                    int(distances[offset]),
                )
            )
    return found
