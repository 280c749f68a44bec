"""Data-parallel training on PyTorch's own engine (DistributedDataParallel), started by ``torchrun``.

    torchrun --nproc-per-node 2 -m lungseg train --data DIR --out RUN          # one machine, 2 processes
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 \\
             --nproc-per-node 4 -m lungseg train --data DIR --out RUN          # on each of 2 machines

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; without them training runs in one process as
before. On GPUs (``--device auto`` or ``cuda`` with CUDA visible) each process takes GPU ``LOCAL_RANK``,
the process group uses NCCL and DDP is given that device; on the CPU the backend is gloo. Each process trains on
its own shard of the training set
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
    """``device``: this process's GPU under torchrun on GPUs, else None (the engine resolves --device)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: str = "auto") -> Distributed:
        """Join the process group ``torchrun`` describes (NCCL with one GPU per rank when ``device`` is
        auto/cuda and CUDA is visible, else gloo), or a single process without it."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        gpu = None
        if str(device).lower() in ("auto", "cuda") and torch.cuda.is_available():
            gpu = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(gpu)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if gpu is not None else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), gpu)

    @property
    def backend(self) -> str | None:
        return dist.get_backend() if self.enabled and dist.is_initialized() else None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.enabled:
            return model
        if self.device is not None:
            return torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index], output_device=self.device.index
            )
        return torch.nn.parallel.DistributedDataParallel(model)

    @property
    def _collective_device(self) -> torch.device:
        """NCCL moves only GPU tensors; gloo takes CPU ones."""
        return self.device if self.device is not None else torch.device("cpu")

    def mean(self, total: float, count: int) -> float:
        """Sample-weighted mean of a per-process sum over all processes."""
        if not self.enabled:
            return total / max(count, 1)
        values = torch.tensor([total, float(count)], dtype=torch.float64, device=self._collective_device)
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
        holder = torch.tensor([value], dtype=torch.float64, device=self._collective_device)
        dist.broadcast(holder, src=0)
        return float(holder.item())

    def agree(self, flag: bool) -> bool:
        """Rank 0's yes/no on every rank (stopping depends on the clock, which differs per rank)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1 if flag else 0], device=self._collective_device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
