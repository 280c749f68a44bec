"""The DataLoaders of one run: the training loader draws ``EpochSampler`` keys (order and augmentation
seeds from the run seed and the epoch, whatever the worker count), the validation loader goes in order."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from lungseg.config import TrainConfig
from lungseg.training.distributed import Distributed
from lungseg.training.sampling import EpochSampler


def make_loader(
    dataset, train: TrainConfig, device: torch.device, workers: int, distributed: Distributed, shuffle: bool
) -> DataLoader:
    """One loader for the run. Training draws ``EpochSampler`` keys; classification draws each distinct slice
    by its weight. Worker processes persist across epochs; batches are pinned for a GPU."""
    batch = train.batch_size
    extra = {
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": workers > 0,
        # its own generator: starting workers must not draw from the global RNG (dropout's)
        "generator": torch.Generator().manual_seed(train.seed),
    }
    if not shuffle:
        return DataLoader(dataset, batch_size=batch, shuffle=False, **extra)
    weights = getattr(dataset, "sample_weights", None)
    sampler = EpochSampler(
        len(dataset),
        train.seed,
        train.epoch_repeats,
        weights,
        getattr(dataset, "epoch_size", None) if weights is not None else train.samples_per_epoch,
        distributed.rank,
        distributed.world_size,
    )
    return DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=len(sampler) % batch == 1, **extra)
