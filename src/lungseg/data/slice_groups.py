"""Duplicate groups of a classification set: byte-identical files and copies of one slice found by
local-feature matching (``slice_match``), joined into groups that a split must keep together.

Also found: *label conflicts* (one group filed under two classes: its label cannot be trusted, and the
run leaves such groups out) and *marked* images (coloured marks, painted out before training; their
share per class shows whether marks could have been a shortcut). Matching ~700 pictures takes about
half a minute on two cores; the result depends only on the files' bytes, so it is cached under
``$LUNGSEG_CACHE/slice-groups`` keyed by their sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from lungseg.data import slice_match
from lungseg.data.class_folders import LabelledImage
from lungseg.data.splits import linked_groups
from lungseg.io import write_text_atomic
from lungseg.io.shipped import cache_dir

CACHE_VERSION = 1


@dataclass(frozen=True)
class GroupLink:
    """Two samples of one group: ``kind`` is "identical" (same bytes), "same slice" (a crop, rescale,
    re-encode or annotated copy) or "neighbour" (the same scene, a different slice of one scan)."""

    first: str
    second: str
    kind: str
    inliers: int = 0
    correlation: float = 1.0


@dataclass(frozen=True)
class SliceGroups:
    """``group_of``: sample name -> group key (the group's first name); ``links`` the pairs that joined
    them; ``labels`` and ``folders`` per sample; ``marked`` the marked pixel fraction of marked samples."""

    group_of: dict[str, str]
    links: tuple[GroupLink, ...]
    labels: dict[str, str]
    folders: dict[str, str]
    marked: dict[str, float] = field(default_factory=dict)

    def members(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for name in sorted(self.group_of):
            groups.setdefault(self.group_of[name], []).append(name)
        return groups

    def conflicts(self) -> list[list[str]]:
        """Groups whose members are filed under more than one class."""
        return [names for names in self.members().values() if len({self.labels[n] for n in names}) > 1]

    def usable(self) -> list[str]:
        """Sample names outside conflicting groups (the ones a run may train and score on)."""
        bad = {name for names in self.conflicts() for name in names}
        return [name for name in sorted(self.group_of) if name not in bad]

    def cross_folder_groups(self) -> list[list[str]]:
        """Groups stored in more than one split folder (a leak between the set's own splits)."""
        return [names for names in self.members().values() if len({self.folders[n] for n in names}) > 1]

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Per class: files, distinct groups and marked files."""
        files = Counter(self.labels.values())
        groups = Counter(label for names in self.members().values() for label in {self.labels[n] for n in names})
        marked = Counter(self.labels[name] for name in self.marked)
        return {
            label: {"files": files[label], "groups": groups[label], "marked": marked[label]} for label in sorted(files)
        }

    def summary_line(self) -> str:
        counts = self.class_counts()
        per_class = ", ".join(f"{label} {c['groups']} of {c['files']}" for label, c in counts.items())
        return (
            f"{len(self.group_of)} files in {len(self.members())} distinct-slice groups ({per_class}); "
            f"{len(self.cross_folder_groups())} groups span split folders; {len(self.conflicts())} label "
            f"conflict(s); {len(self.marked)} files with coloured marks"
        )

    def to_dict(self) -> dict:
        kinds = Counter(link.kind for link in self.links)
        return {
            "summary": self.summary_line(),
            "classes": self.class_counts(),
            "link_kinds": dict(kinds),
            "label_conflicts": self.conflicts(),
            "cross_folder_groups": self.cross_folder_groups(),
            "marked": {name: round(value, 5) for name, value in sorted(self.marked.items())},
            "groups": [names for names in self.members().values() if len(names) > 1],
            "links": [vars(link) for link in self.links],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def group_slices(
    images: list[LabelledImage],
    pictures: list[np.ndarray],
    marked: dict[str, float] | None = None,
    use_cache: bool = True,
) -> SliceGroups:
    """Group ``images`` (with their gray ``pictures``, same order) by identical bytes and matched slices."""
    if len(images) != len(pictures):
        raise ValueError(f"group_slices: {len(images)} images but {len(pictures)} pictures")
    digests = [hashlib.sha256(item.path.read_bytes()).hexdigest() for item in images]
    names = [item.name for item in images]
    links = [
        GroupLink(names[i], names[j], "identical")
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if digests[i] == digests[j]
    ]
    identical = {(link.first, link.second) for link in links}
    for match in _matches(pictures, digests, use_cache):
        pair = (names[match["first"]], names[match["second"]])
        if pair in identical:
            continue
        kind = "same slice" if match["correlation"] >= slice_match.SAME_SLICE_CORRELATION else "neighbour"
        links.append(GroupLink(*pair, kind, match["inliers"], round(match["correlation"], 4)))
    keys = linked_groups(names, None, [(link.first, link.second) for link in links])
    return SliceGroups(
        keys,
        tuple(links),
        {item.name: item.label for item in images},
        {item.name: item.folder for item in images},
        {name: value for name, value in (marked or {}).items() if value > 0},
    )


def _matches(pictures: list[np.ndarray], digests: list[str], use_cache: bool) -> list[dict]:
    """The verified slice matches as dicts (indices into ``pictures``), from the cache when it has them."""
    settings = (
        CACHE_VERSION,
        slice_match.MAX_FEATURES,
        slice_match.WORK_HEIGHT,
        slice_match.RATIO,
        slice_match.NEIGHBOURS,
        slice_match.MIN_VOTES,
        slice_match.MIN_INLIERS,
    )
    key = hashlib.sha256(json.dumps([settings, digests]).encode()).hexdigest()[:32]
    path = cache_dir() / "slice-groups" / f"{key}.json"
    if use_cache and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    found = [
        {"first": m.first, "second": m.second, "inliers": m.inliers, "correlation": m.correlation}
        for m in slice_match.match_slices(pictures)
    ]
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(found))
        except OSError:
            pass  # an unwritable cache only costs time
    return found
