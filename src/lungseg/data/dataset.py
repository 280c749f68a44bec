"""In-memory datasets of preprocessed slices for training and validation.

All pairs are read and preprocessed once (fast epochs on a CPU, and bad files fail before training
starts). Items are dicts of (1, S, S) float32 tensors: ``image`` in [0, 1], ``mask`` in {0, 1} (binary)
or the class index 0..K (multi-class), and,
with border weights, ``weight`` (the U-Net weight map, computed once per mask on the model grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from lungseg.data.augment import augment_pair, seeded_item
from lungseg.data.pairs import Pair
from lungseg.errors import InputError
from lungseg.io import read_image, read_mask_with_labels
from lungseg.io.label_maps import parse_mask_mapping, read_label_map
from lungseg.losses import border_weight_map
from lungseg.preprocessing import PreprocessPlan, mask_to_model_grid, nonfinite_count


@dataclass
class LoadedPair:
    name: str
    image: np.ndarray
    mask: np.ndarray  # bool foreground (binary) or uint8 classes 0..K (multi-class)
    several_labels: str = ""  # a binary target read from a mask of several labels: "FILE holds 1, 2 (rule)"


@dataclass(frozen=True)
class MaskRule:
    """How masks are read: ``channels`` 1 -> bool foreground by ``lungseg.io.masks``' rule (or exactly
    ``labels``); ``channels`` K + 1 -> a class map 0..K (``lungseg.io.label_maps``, ``mapping`` for
    pictures of the classes such as "0:0,128:1,255:2")."""

    labels: Sequence[int] | None = None
    channels: int = 1
    mapping: str | None = None

    def read(self, path) -> np.ndarray:
        return self.read_with_labels(path)[0]

    def read_with_labels(self, path) -> tuple[np.ndarray, str]:
        """The mask and, for a binary target read from a mask of several label values (no ``labels``
        given), "FILE holds 1, 2 (the rule that merged them)"; else ""."""
        if self.channels != 1:
            return read_label_map(path, self.channels, parse_mask_mapping(self.mapping, self.channels)), ""
        mask, rule, values = read_mask_with_labels(path, self.labels)
        if not values:
            return mask, ""
        return mask, f"{path} holds label values {', '.join(f'{v:g}' for v in values)} (read as {rule})"


def load_pair(pair: Pair, masks: MaskRule | Sequence[int] | None = None) -> LoadedPair:
    """Read one image and its mask (``masks``: a ``MaskRule``, or binary ``mask_labels``); an image
    with NaN/inf pixels or a size mismatch raises ``InputError`` naming the file."""
    image = read_image(pair.image)
    bad = nonfinite_count(image)
    if bad:
        raise InputError(pair.image, f"{bad} NaN/infinite pixel(s); training and scoring need finite images")
    rule = masks if isinstance(masks, MaskRule) else MaskRule(masks)
    mask, several_labels = rule.read_with_labels(pair.mask)
    if image.shape != mask.shape:
        raise InputError(
            pair.mask,
            f"mask is {mask.shape[1]}x{mask.shape[0]} but its image "
            f"{pair.image.name} is {image.shape[1]}x{image.shape[0]}",
        )
    return LoadedPair(pair.name, image, mask, several_labels)


def several_labels_warning(pairs: Sequence[LoadedPair]) -> str | None:
    """A warning when a binary model is trained from masks of several label values (all merged into one
    foreground), naming the first file and its values, or None."""
    found = [pair.several_labels for pair in pairs if pair.several_labels]
    if not found:
        return None
    return (
        f"warning: {found[0]}; {len(found)} of {len(pairs)} masks hold several label values and this binary "
        "model (model.channels 1) learns them as one foreground: give --mask-labels (config data.mask_labels) "
        "to choose the foreground labels, or train one class per label (model.channels K+1, with "
        "data.mask_mapping for pictures of classes such as 0:0,128:1,255:2)"
    )


class SliceDataset(Dataset):
    """Preprocessed (image, mask) pairs on the model grid, with optional joint augmentation."""

    def __init__(
        self,
        pairs: list[LoadedPair],
        plan: PreprocessPlan,
        transform=None,
        border_weights: tuple[float, float] | None = None,
    ):
        """``border_weights``: (w0, sigma) to precompute U-Net weight maps, or None."""
        self.names = [pair.name for pair in pairs]
        self.transform = transform
        images, masks = [], []
        for pair in pairs:
            image, box = plan.prepare(pair.image, pair.name)
            images.append(image)
            masks.append(mask_to_model_grid(pair.mask, box))
        size = plan.image_size
        self.images = np.stack(images) if images else np.zeros((0, size, size), np.float32)
        self.masks = np.stack(masks) if masks else np.zeros((0, size, size), np.uint8)
        self.weights = None
        if border_weights is not None:
            self.weights = np.stack([border_weight_map(mask > 0, *border_weights) for mask in self.masks])

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        """``key``: an index, or (index, augmentation seed) from the training sampler."""
        index = seeded_item(key, self.transform)
        weight = None if self.weights is None else self.weights[index]
        image, mask, weight = augment_pair(self.transform, self.images[index], self.masks[index], weight)
        item = {"image": _tensor(image), "mask": _tensor(mask)}
        if weight is not None:
            item["weight"] = _tensor(weight)
        return item


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
