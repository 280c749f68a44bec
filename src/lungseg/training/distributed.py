"""Data-parallel training on PyTorch's own engine (DistributedDataParallel), started by ``torchrun``.

    torchrun --nproc-per-node 2 -m lungseg train --data DIR --out RUN          # one machine, 2 processes
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 \\
             --nproc-per-node 4 -m lungseg train --data DIR --out RUN          # on each of 2 machines

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; without them training runs in one process as
before. lungseg trains on the CPU, so the backend is gloo (NCCL needs the model on a GPU, which the
training engine does not do yet). Each process trains on its own shard of the training set
(``DistributedSampler``, reshuffled per epoch from the run's seed; augmentation and dropout seeded per
rank) with the configured batch size, so the effective batch is ``batch_size x WORLD_SIZE``; DDP
averages the gradients. Before validation the weights and batch-norm statistics of rank 0 are copied to
every rank (batch-norm statistics drift apart during an epoch, each rank seeing its own batches), every
process validates the full validation set, and each decision (best epoch, schedule, stopping) uses rank
0's numbers, so all processes always agree; only rank 0 logs and writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> Distributed:
        """Join the process group ``torchrun`` describes, or a single process without it."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.enabled:
            return model
        return torch.nn.parallel.DistributedDataParallel(model)

    def sampler(self, dataset, seed: int):
        if not self.enabled:
            return None
        return torch.utils.data.DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank,
                                                   shuffle=True, seed=seed)

    def mean(self, total: float, count: int) -> float:
        """Sample-weighted mean of a per-process sum over all processes."""
        if not self.enabled:
            return total / max(count, 1)
        values = torch.tensor([total, float(count)], dtype=torch.float64)
        dist.all_reduce(values)
        return float(values[0] / max(values[1], 1))

    def sync_state(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers into ``module`` on every rank."""
        if not self.enabled:
            return
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)

    def from_main(self, value: float) -> float:
        """Rank 0's value of a number, on every rank."""
        if not self.enabled:
            return value
        holder = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(holder, src=0)
        return float(holder.item())

    def agree(self, flag: bool) -> bool:
        """Rank 0's yes/no on every rank (stopping depends on the clock, which differs per rank)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1 if flag else 0])
        dist.broadcast(value, src=0)
        return bool(value.item())

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
