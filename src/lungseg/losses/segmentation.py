"""Binary segmentation losses on logits.

All take ``logits`` and ``target`` of shape (N, 1, H, W) (target in {0, 1}, float) and return a scalar.
Overlap losses are computed per sample and averaged over the batch, with smoothing ``eps`` so an
empty target with an empty prediction has loss 0.
"""

from __future__ import annotations

import torch
from torch import nn


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")


def _overlap_terms(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    probability = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    return (probability * target).sum(1), probability.sum(1) + target.sum(1)


class _OverlapLoss(nn.Module):
    """Base for per-sample overlap losses with smoothing ``eps``."""

    def __init__(self, eps: float = 1.0):
        super().__init__()
        self.eps = eps

    def score(self, intersection: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(logits, target)
        intersection, total = _overlap_terms(logits, target)
        return (1 - self.score(intersection, total)).mean()


class SoftDiceLoss(_OverlapLoss):
    """1 - (2|P∩T| + eps) / (|P| + |T| + eps), P the sigmoid probabilities."""

    def score(self, intersection: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        return (2 * intersection + self.eps) / (total + self.eps)


class SoftIoULoss(_OverlapLoss):
    """Jaccard loss: 1 - (|P∩T| + eps) / (|P∪T| + eps)."""

    def score(self, intersection: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        return (intersection + self.eps) / (total - intersection + self.eps)


class BCELoss(nn.Module):
    """Binary cross-entropy on logits (numerically stable), mean over pixels."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(logits, target)
        return nn.functional.binary_cross_entropy_with_logits(logits, target)


class WeightedSum(nn.Module):
    """L = alpha * BCE + (1 - alpha) * overlap loss (Dice or IoU)."""

    def __init__(self, overlap: nn.Module, alpha: float = 0.5):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha
        self.bce = BCELoss()
        self.overlap = overlap

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.alpha * self.bce(logits, target) + (1 - self.alpha) * self.overlap(logits, target)


LOSSES = {
    "bce": lambda alpha: BCELoss(),
    "dice": lambda alpha: SoftDiceLoss(),
    "bce_dice": lambda alpha: WeightedSum(SoftDiceLoss(), alpha),
    "bce_iou": lambda alpha: WeightedSum(SoftIoULoss(), alpha),
}


def build_loss(name: str, alpha: float = 0.5) -> nn.Module:
    """Loss by name (bce, dice, bce_dice, bce_iou); ``alpha`` weighs BCE in the combined losses."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; available losses: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](alpha)
