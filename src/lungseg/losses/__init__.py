"""Training losses for binary segmentation (on logits)."""

from lungseg.losses.segmentation import (
    LOSSES,
    BCELoss,
    SoftDiceLoss,
    SoftIoULoss,
    WeightedSum,
    build_loss,
)

__all__ = ["LOSSES", "BCELoss", "SoftDiceLoss", "SoftIoULoss", "WeightedSum", "build_loss"]
