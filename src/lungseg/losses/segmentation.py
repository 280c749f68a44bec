"""Binary segmentation losses on logits.

All take ``logits`` and ``target`` of shape (N, 1, H, W) (target in {0, 1}, float) and an optional
pixel ``weight`` map of the same shape, and return a scalar. Pixel-wise losses (BCE, focal) use the
weights; overlap losses (Dice, IoU, Tversky) are computed per sample and averaged over the batch,
with smoothing ``eps`` so an empty target with an empty prediction has loss 0, and ignore them.

Why not ``segmentation_models_pytorch.losses`` (installed) for Dice, Jaccard and Tversky: in binary mode
they pool the whole batch into one score (dims (0, 2)), where ours scores each slice and averages, as
the metrics do; and they multiply the loss by zero for a target with no foreground, so false positives
on an empty slice cost nothing, against lungseg's empty-mask policy (an empty slice must be predicted
empty). Neither they nor ``nn.BCEWithLogitsLoss`` take a per-pixel weight map normalised by its sum
(the U-Net paper's border weights). The focal term is ``torchvision.ops.sigmoid_focal_loss``, weighted
here.
"""

from __future__ import annotations

import torch
from torch import nn

from lungseg.losses.multiclass import MULTICLASS_LOSSES


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

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
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


class SoftTverskyLoss(_OverlapLoss):
    """Tversky loss: 1 - (TP + eps) / (TP + alpha FP + beta FN + eps); beta > alpha favours recall of
    small structures (Salehi et al. 2017). alpha = beta = 0.5 is the Dice loss."""

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, eps: float = 1.0):
        super().__init__(eps)
        self.alpha, self.beta = alpha, beta

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        _check(logits, target)
        probability, target = torch.sigmoid(logits).flatten(1), target.flatten(1)
        tp = (probability * target).sum(1)
        fp = (probability * (1 - target)).sum(1)
        fn = ((1 - probability) * target).sum(1)
        return (1 - (tp + self.eps) / (tp + self.alpha * fp + self.beta * fn + self.eps)).mean()


class BCELoss(nn.Module):
    """Binary cross-entropy on logits (numerically stable); pixel-weighted mean when ``weight`` is given."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        _check(logits, target)
        if weight is None:
            return nn.functional.binary_cross_entropy_with_logits(logits, target)
        per_pixel = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return (per_pixel * weight).sum() / weight.sum().clamp_min(1e-6)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): BCE scaled by (1 - p_t)^gamma, with class weight alpha on the
    foreground (1 - alpha on background); optional pixel weights."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25):
        super().__init__()
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        from torchvision.ops import sigmoid_focal_loss

        _check(logits, target)
        per_pixel = sigmoid_focal_loss(logits, target, alpha=self.alpha, gamma=self.gamma, reduction="none")
        if weight is None:
            return per_pixel.mean()
        return (per_pixel * weight).sum() / weight.sum().clamp_min(1e-6)


class WeightedSum(nn.Module):
    """L = alpha * BCE + (1 - alpha) * overlap loss (Dice or IoU)."""

    def __init__(self, overlap: nn.Module, alpha: float = 0.5):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha
        self.bce = BCELoss()
        self.overlap = overlap

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return self.alpha * self.bce(logits, target, weight) + (1 - self.alpha) * self.overlap(logits, target)


class DeepSupervisionLoss(nn.Module):
    """Weighted sum of ``base`` over a list of head outputs (U-Net++ in training); a single tensor
    passes straight to ``base``. ``weights`` default to equal; they are normalised to sum to 1."""

    def __init__(self, base: nn.Module, weights: list[float] | None = None):
        super().__init__()
        self.base, self.weights = base, weights

    def forward(self, logits, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(logits, torch.Tensor):
            return self.base(logits, target, weight)
        weights = self.weights or [1.0] * len(logits)
        if len(weights) != len(logits):
            raise ValueError(f"{len(weights)} deep-supervision weights for {len(logits)} outputs")
        total = sum(weights)
        return sum(w / total * self.base(output, target, weight) for w, output in zip(weights, logits))


LOSSES = {  # the names are config.LossName's (checked when a config is built; tests keep the two equal)
    "bce": lambda alpha: BCELoss(),
    "dice": lambda alpha: SoftDiceLoss(),
    "bce_dice": lambda alpha: WeightedSum(SoftDiceLoss(), alpha),
    "bce_iou": lambda alpha: WeightedSum(SoftIoULoss(), alpha),
    "focal": lambda alpha: FocalLoss(),
    "tversky": lambda alpha: SoftTverskyLoss(),
    "bce_tversky": lambda alpha: WeightedSum(SoftTverskyLoss(), alpha),
}


def build_loss(name: str, alpha: float = 0.5, channels: int = 1, class_weights: list[float] | None = None) -> nn.Module:
    """Loss by name (see ``LOSSES``); ``alpha`` weighs (B)CE in the combined losses. ``channels`` > 1:
    the K-class softmax form of the same loss (``losses.multiclass``), with optional ``class_weights``
    (one per channel). The result accepts a list of deep-supervision outputs as well as a single tensor."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; available losses: {', '.join(sorted(LOSSES))}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if channels > 1:
        return DeepSupervisionLoss(MULTICLASS_LOSSES[name](alpha, class_weights))
    if class_weights is not None:
        raise ValueError("class_weights need a multi-class model (more than one class name)")
    return DeepSupervisionLoss(LOSSES[name](alpha))
