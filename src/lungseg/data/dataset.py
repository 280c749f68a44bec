"""In-memory datasets of preprocessed slices for training and validation.

All pairs are read and preprocessed once (fast epochs on a CPU, and bad files fail before training
starts). Items are ``(image, mask)`` tensors of shape (1, S, S): image float32 in [0, 1], mask float32
in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from lungseg.data.augment import augment_pair
from lungseg.data.pairs import Pair
from lungseg.errors import InputError
from lungseg.io import read_image, read_mask
from lungseg.preprocessing import PreprocessPlan, mask_to_model_grid


@dataclass
class LoadedPair:
    name: str
    image: np.ndarray
    mask: np.ndarray


def load_pair(pair: Pair) -> LoadedPair:
    """Read one image and its mask; a size mismatch raises ``InputError`` naming the mask."""
    image = read_image(pair.image)
    mask = read_mask(pair.mask)
    if image.shape != mask.shape:
        raise InputError(pair.mask, f"mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                                    f"{pair.image.name} is {image.shape[1]}x{image.shape[0]}")
    return LoadedPair(pair.name, image, mask)


class SliceDataset(Dataset):
    """Preprocessed (image, mask) pairs on the model grid, with optional joint augmentation."""

    def __init__(self, pairs: list[LoadedPair], plan: PreprocessPlan, transform=None):
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

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = augment_pair(self.transform, self.images[index], self.masks[index])
        return (torch.from_numpy(np.ascontiguousarray(image))[None],
                torch.from_numpy(np.ascontiguousarray(mask)).float()[None])
