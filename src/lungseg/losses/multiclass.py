"""K-class segmentation losses on softmax logits.

``logits`` are (N, C, H, W) with C = K + 1 channels (background first); ``target`` is (N, 1, H, W)
holding class indices 0..C-1 (as float, the way datasets deliver masks); ``weight`` is an optional
(N, 1, H, W) pixel weight map. The cross-entropy term is pixel-weighted and may weigh classes
(``class_weights``, one per channel); the overlap terms (soft Dice, IoU, Tversky) are computed per
sample and per foreground class on the softmax probabilities and averaged, with smoothing so a class
absent from both the target and the prediction costs nothing (the empty-mask policy, class by class)
while a class predicted where the target has none still costs. The focal term is multi-class focal
cross-entropy (Lin et al. 2017).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class MultiClassLoss(nn.Module):
    """``ce`` * cross-entropy (or focal CE) + ``overlap_share`` * the overlap loss over foreground classes.

    ``overlap``: "dice", "iou", "tversky" or None; ``focal_gamma``: > 0 turns the CE term into focal CE.
    """

    def __init__(
        self,
        ce: float,
        overlap: str | None,
        class_weights: list[float] | None = None,
        focal_gamma: float = 0.0,
        tversky: tuple[float, float] = (0.3, 0.7),
        eps: float = 1.0,
    ):
        super().__init__()
        if overlap not in (None, "dice", "iou", "tversky"):
            raise ValueError(f"overlap must be dice, iou, tversky or None, got {overlap!r}")
        self.ce, self.overlap, self.focal_gamma, self.tversky, self.eps = ce, overlap, focal_gamma, tversky, eps
        self.register_buffer("class_weights", None if class_weights is None else torch.tensor(class_weights))

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if logits.ndim != 4 or target.shape != (logits.shape[0], 1, *logits.shape[2:]):
            raise ValueError(
                f"logits (N, C, H, W) and target (N, 1, H, W) expected, got {tuple(logits.shape)} "
                f"and {tuple(target.shape)}"
            )
        classes = target[:, 0].long()
        if classes.min() < 0 or classes.max() >= logits.shape[1]:
            raise ValueError(
                f"target holds classes {int(classes.min())}..{int(classes.max())} but the model has "
                f"{logits.shape[1]} output channels"
            )
        if self.class_weights is not None and len(self.class_weights) != logits.shape[1]:
            raise ValueError(f"{len(self.class_weights)} class weights for {logits.shape[1]} output channels")
        loss = logits.new_zeros(())
        if self.ce:
            loss = loss + self.ce * self._cross_entropy(logits, classes, weight)
        if self.overlap is not None and self.ce < 1:
            loss = loss + (1 - self.ce) * self._overlap(logits, classes)
        return loss

    def _cross_entropy(self, logits, classes, weight) -> torch.Tensor:
        per_pixel = functional.cross_entropy(logits, classes, weight=self.class_weights, reduction="none")
        if self.focal_gamma:
            p_true = torch.exp(-functional.cross_entropy(logits, classes, reduction="none"))
            per_pixel = per_pixel * (1 - p_true) ** self.focal_gamma
        share = torch.ones_like(per_pixel) if self.class_weights is None else self.class_weights[classes]
        if weight is not None:
            per_pixel, share = per_pixel * weight[:, 0], share * weight[:, 0]
        return per_pixel.sum() / share.sum().clamp_min(1e-6)  # a weighted mean, as PyTorch's "mean" is

    def _overlap(self, logits, classes) -> torch.Tensor:
        probability = torch.softmax(logits, dim=1).flatten(2)[:, 1:]  # (N, K, HW)
        onehot = functional.one_hot(classes.flatten(1), logits.shape[1]).permute(0, 2, 1)[:, 1:].float()
        tp = (probability * onehot).sum(2)
        fp = (probability * (1 - onehot)).sum(2)
        fn = ((1 - probability) * onehot).sum(2)
        if self.overlap == "dice":
            score = (2 * tp + self.eps) / (2 * tp + fp + fn + self.eps)
        elif self.overlap == "iou":
            score = (tp + self.eps) / (tp + fp + fn + self.eps)
        else:
            alpha, beta = self.tversky
            score = (tp + self.eps) / (tp + alpha * fp + beta * fn + self.eps)
        return (1 - score).mean()


MULTICLASS_LOSSES = {  # the same names as the binary losses (config.LossName), CE in place of BCE
    "bce": lambda alpha, weights: MultiClassLoss(1.0, None, weights),
    "dice": lambda alpha, weights: MultiClassLoss(0.0, "dice", weights),
    "bce_dice": lambda alpha, weights: MultiClassLoss(alpha, "dice", weights),
    "bce_iou": lambda alpha, weights: MultiClassLoss(alpha, "iou", weights),
    "focal": lambda alpha, weights: MultiClassLoss(1.0, None, weights, focal_gamma=2.0),
    "tversky": lambda alpha, weights: MultiClassLoss(0.0, "tversky", weights),
    "bce_tversky": lambda alpha, weights: MultiClassLoss(alpha, "tversky", weights),
}
