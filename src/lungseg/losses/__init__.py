"""Training losses for segmentation (on logits), deep supervision, U-Net weight maps and image classification."""

from lungseg.losses.classification import ClassificationLoss
from lungseg.losses.segmentation import (
    LOSSES,
    BCELoss,
    DeepSupervisionLoss,
    FocalLoss,
    SoftDiceLoss,
    SoftIoULoss,
    SoftTverskyLoss,
    WeightedSum,
    build_loss,
)
from lungseg.losses.weight_maps import border_weight_map, class_balance_weights

__all__ = [
    "LOSSES",
    "BCELoss",
    "ClassificationLoss",
    "DeepSupervisionLoss",
    "FocalLoss",
    "SoftDiceLoss",
    "SoftIoULoss",
    "SoftTverskyLoss",
    "WeightedSum",
    "border_weight_map",
    "build_loss",
    "class_balance_weights",
]
