"""Optimizers and learning-rate schedules from ``OptimConfig``."""

from __future__ import annotations

from typing import get_args

import torch

from lungseg.config import OptimConfig, OptimizerName, SchedulerName


def build_optimizer(parameters, config: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW (decoupled weight decay) or SGD with momentum (Nesterov off); ``parameters`` may be
    torch parameter groups."""
    if config.lr <= 0:
        raise ValueError(f"lr must be positive, got {config.lr}")
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; available: {', '.join(get_args(OptimizerName))}")


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, epochs: int):
    """ReduceLROnPlateau on the monitored loss, cosine annealing over ``epochs``, or None."""
    if config.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr
        )
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=config.min_lr)
    if config.scheduler == "none":
        return None
    raise ValueError(f"unknown scheduler {config.scheduler!r}; available: {', '.join(get_args(SchedulerName))}")


def step_scheduler(scheduler, monitored_loss: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored_loss)
    else:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
