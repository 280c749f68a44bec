"""In-memory dataset of classification pictures on the model grid, weighted by distinct slice.

Items are dicts: ``image`` (1, S, S) float32 in [0, 1] and ``label`` an int64 class index 0..K-1.
A set where one slice is stored ten times would otherwise train (and score) that slice ten times:
``sample_weights`` give each file 1 / (copies of its slice in this set), times 1 / (distinct slices of
its class) with ``balance="sampler"``, and ``epoch_size`` is the number of distinct slices, so an epoch
draws each slice about once. ``representatives`` keeps one file per slice (for validation and scoring).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset

from lungseg.data.augment import seeded_item
from lungseg.preprocessing import PreprocessPlan


def representatives(names: list[str], group_of: dict[str, str]) -> list[str]:
    """One name per group (the first in sorted order: "17.png" before "17 - Copy.png")."""
    chosen: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (len(n), n)):
        chosen.setdefault(group_of.get(name, name), name)
    return sorted(chosen.values())


class ClassDataset(Dataset):
    """Preprocessed pictures with class indices; ``groups`` (name -> group key) for the weights."""

    def __init__(
        self,
        names: list[str],
        pictures: list[np.ndarray],
        labels: list[int],
        plan: PreprocessPlan,
        classes: int,
        transform=None,
        group_of: dict[str, str] | None = None,
        balance: str = "none",
    ):
        if not len(names) == len(pictures) == len(labels):
            raise ValueError(f"ClassDataset: {len(names)} names, {len(pictures)} pictures, {len(labels)} labels")
        self.names, self.transform, self.classes = list(names), transform, classes
        size = plan.image_size
        self.images = (
            np.stack([plan.prepare(picture, name)[0] for name, picture in zip(names, pictures)])
            if names
            else np.zeros((0, size, size), np.float32)
        )
        self.labels = np.asarray(labels, dtype=np.int64)
        groups = [(group_of or {}).get(name, name) for name in names]
        copies = Counter(groups)
        group_label = {group: label for group, label in zip(groups, labels)}
        self.class_groups = Counter(group_label.values())  # distinct slices per class
        weights = np.array([1.0 / copies[group] for group in groups])
        if balance == "sampler":
            weights = weights / np.array([self.class_groups[label] for label in labels], dtype=np.float64)
        self.sample_weights = torch.from_numpy(weights) if names else None
        self.epoch_size = len(copies)

    def balancing_weights(self) -> list[float]:
        """Per-class loss weights, inversely proportional to the class's distinct slices (mean 1 over
        the classes present; 0 for a class without training slices)."""
        present = [c for c in range(self.classes) if self.class_groups[c]]
        total = sum(self.class_groups.values())
        return [
            total / (len(present) * self.class_groups[c]) if self.class_groups[c] else 0.0 for c in range(self.classes)
        ]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        """``key``: an index, or (index, augmentation seed) from the training sampler."""
        index = seeded_item(key, self.transform)
        image = self.images[index]
        if self.transform is not None:
            image = np.clip(self.transform(image=image)["image"], 0.0, 1.0).astype(np.float32, copy=False)
        return {"image": torch.from_numpy(np.ascontiguousarray(image))[None], "label": torch.tensor(self.labels[index])}
