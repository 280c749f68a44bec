"""Image classification loss: cross-entropy on (N, K) logits with label smoothing and class weights."""

from __future__ import annotations

import torch
from torch import nn


class ClassificationLoss(nn.Module):
    """Mean cross-entropy of (N, K) logits against (N,) class indices 0..K-1.

    ``label_smoothing`` in [0, 1) moves that much probability mass from the true class to all classes
    evenly (Szegedy et al. 2016); ``class_weights`` (K non-negative numbers) weigh each class's samples,
    e.g. inversely to their count. A per-sample ``weight`` (N,) tensor, when given, weighs the samples
    (the mean is then weighted)."""

    def __init__(self, label_smoothing: float = 0.0, class_weights: list[float] | None = None):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if class_weights is not None and min(class_weights) < 0:
            raise ValueError(f"class_weights must be non-negative, got {class_weights}")
        self.label_smoothing = label_smoothing
        self.register_buffer(
            "class_weights",
            None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32),
            persistent=False,
        )

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if logits.ndim != 2 or target.shape != logits.shape[:1]:
            raise ValueError(
                f"logits must be (N, K) and target (N,); got {tuple(logits.shape)} and {tuple(target.shape)}"
            )
        losses = nn.functional.cross_entropy(
            logits, target.long(), weight=self.class_weights, reduction="none", label_smoothing=self.label_smoothing
        )
        if weight is None:
            if self.class_weights is None:
                return losses.mean()
            return losses.sum() / self.class_weights[target.long()].sum().clamp_min(1e-12)
        return (losses * weight).sum() / weight.sum().clamp_min(1e-12)
