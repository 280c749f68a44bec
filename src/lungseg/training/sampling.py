"""Which training samples an epoch draws, in which order, and the seed of each sample's augmentation.

``EpochSampler`` yields ``(index, seed)`` keys: the order comes from the run seed and the epoch, and
each sample's augmentation seed from the run seed, the epoch and its position, so the augmented batch
does not depend on how many DataLoader worker processes there are, on whether they persist between
epochs, on a resume, or on the rank that draws it. Datasets accept such a key (``seeded_item``).
With several processes (DDP) each rank takes every ``world_size``-th draw of the same sequence,
padded to equal length as ``DistributedSampler`` does.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """``size`` samples; per epoch ``len(size) x repeats`` shuffled draws (several permutations), or
    ``draws`` weighted draws with replacement when ``weights`` are given, or without weights the first
    ``draws`` of the epoch's permutations (a fixed number of samples per epoch from a large set: each
    epoch another random subset); ``set_epoch`` before iterating."""

    def __init__(
        self,
        size: int,
        seed: int,
        repeats: int = 1,
        weights: torch.Tensor | None = None,
        draws: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        self.size, self.seed, self.repeats = size, seed, repeats
        self.weights, self.draws = weights, draws
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _sequence(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        if self.weights is not None:
            count = self.draws or self.size
            return torch.multinomial(self.weights, count, replacement=True, generator=generator).tolist()
        passes = self.repeats if self.draws is None else max(self.repeats, math.ceil(self.draws / self.size))
        sequence = [i for _ in range(passes) for i in torch.randperm(self.size, generator=generator).tolist()]
        return sequence if self.draws is None else sequence[: self.draws]

    def __iter__(self):
        sequence = self._sequence()
        total = math.ceil(len(sequence) / self.world_size) * self.world_size
        sequence += sequence[: total - len(sequence)]
        base = (self.seed * 1000 + self.epoch) * 1_000_003
        for position in range(self.rank, total, self.world_size):
            yield sequence[position], (base + position) % 2**32

    def __len__(self) -> int:
        count = self.draws or (self.size if self.weights is not None else self.size * self.repeats)
        return math.ceil(count / self.world_size)
