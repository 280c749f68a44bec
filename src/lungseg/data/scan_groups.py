"""Scan reconstruction: slices of one CT scan joined into a *scan group*, so that a split can keep a
whole scan (one patient) on one side.

A set of exported slices without patient IDs (``chest-ct-cancer``) holds several slices of each scan.
Copies of one slice are already grouped (``slice_groups``); a scan group joins, within one class folder
(a scan has one diagnosis), what the evidence ties together:

1. **matched neighbours**: two slices whose local features fit one similarity transform (the body
   outline, table and large vessels of one scan), found with looser thresholds than the duplicate
   audit (``NEIGHBOUR_VOTES``, ``NEIGHBOUR_INLIERS``: at least 12 RANSAC inliers). Every such pair in
   the set falls inside one class folder, and the pairs share the export style (below) far more than
   random pairs of a class do;
2. **export style** (cheap evidence): each export was taken with one window and one framing, so slices
   of one scan share the gray level of the lungs and of soft tissue and the shape of the body outline.
   ``scan_style`` measures them; slices whose styles cluster together (average linkage, Chebyshev
   distance in units of ``STYLE_TOLERANCE``, cut at ``STYLE_CUT``) are joined.

The style is weak evidence (it changes along a scan; two patients may share a window), so groups are
approximate. ``ScanGroups.evidence`` tells per group how it was formed, and
``ScanGroups.style_recall`` how many matched-neighbour pairs the style alone would also have joined: a
measure of how far the style can be trusted. Joining too much only makes a scan-disjoint evaluation
stricter; joining too little makes it optimistic.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

import numpy as np

from lungseg.data import slice_match
from lungseg.data.slice_groups import SliceGroups
from lungseg.data.splits import linked_groups
from lungseg.io import write_text_atomic
from lungseg.io.shipped import cache_dir

NEIGHBOUR_VOTES = 5  # ratio-test votes for a candidate neighbour pair
NEIGHBOUR_INLIERS = 12  # RANSAC similarity inliers: pairs with >= 8 never crossed a class folder
STYLE_FEATURES = ("lung_level", "tissue_low", "tissue_level", "body_aspect")
STYLE_TOLERANCE = (3.0, 3.0, 5.0, 0.08)  # about the 75th-90th percentile between matched neighbours
STYLE_CUT = 1.0  # average-linkage cut, in tolerances
CACHE_VERSION = 1


@dataclass(frozen=True)
class ScanStyle:
    """Export style of one 8-bit slice picture: median gray of the lungs (dark body pixels) and of soft
    tissue (its median and 10th percentile), and the body outline's width / height."""

    lung_level: float
    tissue_low: float
    tissue_level: float
    body_aspect: float

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in STYLE_FEATURES], np.float64)


def scan_style(gray: np.ndarray) -> ScanStyle:
    """``ScanStyle`` of a (H, W) gray picture (8-bit values; other ranges are rescaled to 0..255)."""
    from scipy import ndimage

    image = np.asarray(gray, np.float32)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"scan_style: gray must be a non-empty (H, W) array, got shape {image.shape}")
    if image.max() > 255 or image.min() < 0:
        image = (image - image.min()) * (255.0 / max(float(np.ptp(image)), 1e-6))
    body = image > 40
    labels, count = ndimage.label(body)
    if count == 0:
        return ScanStyle(0.0, 0.0, 0.0, 1.0)
    sizes = ndimage.sum(body, labels, range(1, count + 1))
    body = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    rows, cols = np.nonzero(body)
    inside = image[body]
    tissue, lungs = inside[inside > 90], inside[inside <= 90]
    return ScanStyle(
        float(np.median(lungs)) if lungs.size else 0.0,
        float(np.percentile(tissue, 10)) if tissue.size else 0.0,
        float(np.median(tissue)) if tissue.size else 0.0,
        float((np.ptp(cols) + 1) / (np.ptp(rows) + 1)),
    )


@dataclass(frozen=True)
class ScanGroups:
    """``scan_of``: sample name -> scan key (its smallest name); ``labels`` per sample; ``evidence``
    per scan key: "one slice group" (copies of one slice, or a slice and its strict neighbour from the
    duplicate audit), "matched" (slice groups joined by matched neighbours
    only), "matched + style" or "style" (joined by export style only, the least sure);
    ``style_recall``: share of matched-neighbour pairs that the style alone also joins."""

    scan_of: dict[str, str]
    labels: dict[str, str]
    evidence: dict[str, str]
    neighbour_pairs: tuple[tuple[str, str], ...]
    style_recall: float

    def members(self) -> dict[str, list[str]]:
        scans: dict[str, list[str]] = {}
        for name in sorted(self.scan_of):
            scans.setdefault(self.scan_of[name], []).append(name)
        return scans

    def class_counts(self, slice_groups: SliceGroups | None = None) -> dict[str, dict]:
        """Per class: files, scan groups, the largest group's files and groups by evidence; with
        ``slice_groups`` also the distinct slices."""
        counts: dict[str, dict] = {}
        for key, names in self.members().items():
            entry = counts.setdefault(
                self.labels[names[0]], {"files": 0, "scans": 0, "largest": 0, "evidence": Counter()}
            )
            entry["files"] += len(names)
            entry["scans"] += 1
            entry["largest"] = max(entry["largest"], len(names))
            entry["evidence"][self.evidence[key]] += 1
        for label, entry in counts.items():
            entry["evidence"] = dict(sorted(entry["evidence"].items()))
            if slice_groups is not None:
                entry["slices"] = len(
                    {
                        slice_groups.group_of[n]
                        for n in self.scan_of
                        if self.labels[n] == label and n in slice_groups.group_of
                    }
                )
        return dict(sorted(counts.items()))

    def links(self) -> list[tuple[str, str]]:
        """Pairs (member, scan key) that tie each sample to its scan (for ``splits.make_split``)."""
        return [(name, key) for name, key in sorted(self.scan_of.items()) if name != key]

    def summary_line(self) -> str:
        per_class = ", ".join(f"{label} {c['scans']}" for label, c in self.class_counts().items())
        return (
            f"{len(self.scan_of)} files in {len(self.members())} scan groups ({per_class}); "
            f"{len(self.neighbour_pairs)} matched-neighbour pairs, {100 * self.style_recall:.0f}% of them "
            f"also joined by export style alone"
        )

    def to_dict(self, slice_groups: SliceGroups | None = None) -> dict:
        return {
            "summary": self.summary_line(),
            "classes": self.class_counts(slice_groups),
            "style_recall": self.style_recall,
            "neighbour_pairs": [list(p) for p in self.neighbour_pairs],
            "scans": {key: {"evidence": self.evidence[key], "members": names} for key, names in self.members().items()},
        }


def group_scans(
    slices: SliceGroups, pictures: dict[str, np.ndarray], use_cache: bool = True, cut: float = STYLE_CUT
) -> ScanGroups:
    """Scan groups of the samples of ``slices`` (conflicting groups left out: ``slices.usable()``);
    ``pictures`` maps every usable name to its gray picture."""
    names = slices.usable()
    missing = [name for name in names if name not in pictures]
    if missing:
        raise ValueError(f"group_scans: pictures lacks {len(missing)} sample(s), e.g. {missing[0]!r}")
    if cut <= 0:
        raise ValueError(f"group_scans: cut must be positive, got {cut!r}")
    first_of: dict[str, str] = {}
    for name in names:  # one head per distinct slice: its first name
        first_of.setdefault(slices.group_of[name], name)
    slice_key = {name: first_of[slices.group_of[name]] for name in names}
    heads = sorted(set(slice_key.values()))
    neighbours = [
        (a, b)
        for a, b in _neighbour_pairs(heads, pictures, use_cache)
        if slices.labels[a] == slices.labels[b] and slice_key[a] != slice_key[b]
    ]
    style_clusters = _style_clusters(heads, pictures, slices.labels, cut)
    style_links = [(head, style_clusters[head]) for head in heads if style_clusters[head] != head]
    matched_only = linked_groups(heads, None, neighbours)
    style_only = linked_groups(heads, None, style_links)
    recall = float(np.mean([style_only[a] == style_only[b] for a, b in neighbours])) if neighbours else 1.0
    scan_head = linked_groups(heads, None, neighbours + style_links)
    scan_of = {name: scan_head[slice_key[name]] for name in names}
    evidence = {}
    for key in set(scan_head.values()):
        members = [h for h in heads if scan_head[h] == key]
        by_match = len({matched_only[h] for h in members}) < len(members)
        by_style = len({matched_only[h] for h in members}) > 1
        evidence[key] = (
            "one slice group"
            if len(members) == 1
            else "matched + style"
            if by_match and by_style
            else "matched"
            if by_match
            else "style"
        )
    # scan keys as the smallest member name (stable across runs)
    rename = {key: min(n for n in names if scan_of[n] == key) for key in set(scan_of.values())}
    return ScanGroups(
        {n: rename[k] for n, k in scan_of.items()},
        {n: slices.labels[n] for n in names},
        {rename[k]: v for k, v in evidence.items()},
        tuple(sorted(neighbours)),
        recall,
    )


def _style_clusters(
    heads: list[str], pictures: dict[str, np.ndarray], labels: dict[str, str], cut: float
) -> dict[str, str]:
    """Each slice's style cluster key (its first member), clustered within its class."""
    from scipy.cluster.hierarchy import fcluster, linkage

    styles = {head: scan_style(pictures[head]).vector() / np.array(STYLE_TOLERANCE) for head in heads}
    cluster_of = {}
    for label in sorted({labels[h] for h in heads}):
        members = [h for h in heads if labels[h] == label]
        if len(members) < 2:
            cluster_of.update({h: h for h in members})
            continue
        found = fcluster(
            linkage(np.stack([styles[h] for h in members]), "average", metric="chebyshev"), cut, "distance"
        )
        first: dict[int, str] = {}
        for head, cluster in zip(members, found):
            cluster_of[head] = first.setdefault(int(cluster), head)
    return cluster_of


def _neighbour_pairs(heads: list[str], pictures: dict[str, np.ndarray], use_cache: bool) -> list[tuple[str, str]]:
    """Pairs of ``heads`` whose pictures show one scene (looser local-feature matching), cached under
    ``$LUNGSEG_CACHE/scan-links`` by the pictures' contents."""
    digest = hashlib.sha256(
        json.dumps(
            [CACHE_VERSION, NEIGHBOUR_VOTES, NEIGHBOUR_INLIERS, slice_match.MAX_FEATURES, slice_match.WORK_HEIGHT]
        ).encode()
    )
    for head in heads:
        digest.update(head.encode())
        digest.update(np.ascontiguousarray(pictures[head]).tobytes())
    path = cache_dir() / "scan-links" / f"{digest.hexdigest()[:32]}.json"
    if use_cache and path.is_file():
        try:
            return [tuple(pair) for pair in json.loads(path.read_text())]
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    found = [
        (heads[m.first], heads[m.second])
        for m in slice_match.match_slices([pictures[h] for h in heads], NEIGHBOUR_VOTES, NEIGHBOUR_INLIERS)
    ]
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(found))
        except OSError:
            pass  # an unwritable cache only costs time
    return found
