"""Seeded, optionally patient-grouped train/validation/test splits, saved as JSON in the run folder.

Spec strings: ``"70/20/10"`` (train/val/test, any three numbers, normalised), ``"2:1"`` (train:test,
no validation set) and ``"kfold:K:I"`` (K folds; fold I is the validation set; no test set).
"""

from __future__ import annotations

import random
import re
from collections import Counter

from lungseg.io.split_record import Split


def group_of(name: str, pattern: str | None) -> str:
    """The patient/group key of a sample: the regex's first group (or whole match), else the name."""
    if not pattern:
        return name
    match = re.search(pattern, name)
    if match is None:
        raise ValueError(f"group pattern {pattern!r} does not match sample {name!r}")
    return match.group(1) if match.groups() else match.group(0)


def parse_fractions(spec: str) -> tuple[float, float, float]:
    """``"70/20/10"`` -> (0.7, 0.2, 0.1); ``"2:1"`` -> (2/3, 0, 1/3)."""
    parts = re.split(r"[/:]", spec)
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 2 and ":" in spec:
        numbers = [numbers[0], 0.0, numbers[1]]
    if len(numbers) != 3 or min(numbers) < 0 or numbers[0] <= 0:
        raise ValueError(
            f"split {spec!r}: expected train/val/test like '70/20/10', train:test like '2:1', or 'kfold:K:I'"
        )
    total = sum(numbers)
    return numbers[0] / total, numbers[1] / total, numbers[2] / total


def split_has_validation(spec: str) -> bool:
    """Whether a split spec asks for a validation set (k-fold always does; ``2:1`` does not)."""
    return spec.startswith("kfold") or parse_fractions(spec)[1] > 0


def make_split(
    names: list[str],
    spec: str = "70/20/10",
    seed: int = 0,
    group_pattern: str | None = None,
    linked: list[tuple[str, str]] = (),
    strata: dict[str, str] | None = None,
) -> Split:
    """Split sample names; all samples of one group go to the same subset. ``linked`` pairs of names
    (e.g. near-identical images found by the data audit) join their groups. ``strata`` (name -> class)
    splits each class's groups separately, so every subset holds each class in proportion (a group
    takes the most common class of its members)."""
    key_of = linked_groups(names, group_pattern, linked)
    groups: dict[str, list[str]] = {}
    for name in sorted(names):
        groups.setdefault(key_of[name], []).append(name)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    layers = [keys]
    if strata is not None:
        stratum_of = {key: Counter(strata[name] for name in groups[key]).most_common(1)[0][0] for key in keys}
        layers = [[key for key in keys if stratum_of[key] == stratum] for stratum in sorted(set(stratum_of.values()))]
    subsets: tuple[list, list, list] = ([], [], [])
    offset = 0
    for layer in layers:
        if spec.startswith("kfold"):
            parts = _kfold_subsets(layer, groups, spec, offset, minimum=len(keys))
            offset += len(layer)
        else:
            parts = _fraction_subsets(
                layer, groups, parse_fractions(spec), sum(len(groups[k]) for k in layer), require_train=strata is None
            )
        for subset, part in zip(subsets, parts):
            subset.extend(part)
    if not subsets[0]:
        raise ValueError("split leaves no training samples")
    train, val, test = (sorted(name for key in subset for name in groups[key]) for subset in subsets)
    return Split(train, val, test, spec=spec, seed=seed, group_pattern=group_pattern)


def linked_groups(names: list[str], group_pattern: str | None, linked: list[tuple[str, str]]) -> dict[str, str]:
    """Each name's group key: the pattern's group, with groups joined through ``linked`` pairs (union-find;
    a joined group is named by its smallest key)."""
    parent = {group_of(name, group_pattern): group_of(name, group_pattern) for name in names}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for first, second in linked:
        a, b = root(group_of(first, group_pattern)), root(group_of(second, group_pattern))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {name: root(group_of(name, group_pattern)) for name in names}


def _fraction_subsets(keys, groups, fractions, total, require_train=True):
    targets = [round(fractions[1] * total), round(fractions[2] * total)]
    val, test, train = [], [], []
    counts = [0, 0]
    for key in keys:
        size = len(groups[key])
        # fill test first, then validation, then the rest is training
        if targets[1] and counts[1] + size / 2 <= targets[1]:
            test.append(key)
            counts[1] += size
        elif targets[0] and counts[0] + size / 2 <= targets[0]:
            val.append(key)
            counts[0] += size
        else:
            train.append(key)
    if require_train and not train:
        raise ValueError("split leaves no training samples")
    return train, val, test


def _kfold_subsets(keys, groups, spec, offset: int = 0, minimum: int | None = None):
    match = re.fullmatch(r"kfold:(\d+):(\d+)", spec)
    if not match:
        raise ValueError(f"split {spec!r}: k-fold spec is 'kfold:K:I', e.g. 'kfold:5:0'")
    folds, index = int(match.group(1)), int(match.group(2))
    if folds < 2 or not 0 <= index < folds:
        raise ValueError(f"split {spec!r}: need K >= 2 and 0 <= I < K")
    if (len(keys) if minimum is None else minimum) < folds:
        raise ValueError(f"split {spec!r}: only {len(keys)} groups for {folds} folds")
    fold_of = {key: (offset + position) % folds for position, key in enumerate(keys)}
    val = [key for key in keys if fold_of[key] == index]
    train = [key for key in keys if fold_of[key] != index]
    return train, val, []
