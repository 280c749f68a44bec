"""``gray-split-unet``: a binary lesion U-Net whose mask is split into two classes by the input's gray level.

Ground glass and consolidation are one lesion seen at two densities: ground glass is hazy (lung still
shows through, about -700 to -300 HU), consolidation is as dense as soft tissue. With 50 typed slices a
3-class network learns the split worse than the density itself tells it (benchmarks/README.md,
"Ground glass vs consolidation"), so the types model is the semi-supervised binary infection network plus
one gray level of its own 8-bit input, fitted on the typed slices (``fit_gray_level``): lesion pixels
below the level are ground glass, the others consolidation.

Contract as every segmentation model (``lungseg.models``): (N, 1, H, W) input in [0, 1] (the plan's
8-bit scale) -> (N, 3, H, W) logits, background first. They are log-probabilities: softmax gives
(1 - p, p, 0) below the level and (1 - p, 0, p) at or above it, where p is the binary network's sigmoid,
so the argmax is the binary mask at p > 0.5 with its type, and a left-right flipped pass averages the
same way as any 3-class model's. The level is a constructor argument, stored in the checkpoint's spec.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lungseg.models.registry import register_model
from lungseg.models.unet import UNet

UNLIKELY = -30.0  # the log-probability of the type a pixel's gray level rules out (e^-30: nothing)


@register_model("gray-split-unet")
class GraySplitUNet(nn.Module):
    """``unet`` (binary, the same kwargs) with its lesion split at ``level`` (input scale 0..1)."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 3,
        level: float = 0.5,
        base_filters: int = 16,
        depth: int = 4,
        batch_norm: bool = True,
        dropout: float = 0.1,
        upsampling: str = "transpose",
        residual: bool = False,
        se: bool = False,
        bottleneck: str = "plain",
        attention: bool = False,
    ):
        super().__init__()
        if in_channels != 1:
            raise ValueError(f"in_channels must be 1 (the gray level splits the classes), got {in_channels}")
        if out_channels != 3:
            raise ValueError(f"out_channels must be 3 (background and two types), got {out_channels}")
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1) (the 8-bit input scale), got {level}")
        self.level = float(level)
        self.unet = UNet(
            in_channels=1,
            out_channels=1,
            base_filters=base_filters,
            depth=depth,
            batch_norm=batch_norm,
            dropout=dropout,
            upsampling=upsampling,
            residual=residual,
            se=se,
            bottleneck=bottleneck,
            attention=attention,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = self.unet(x)
        lesion, background = nn.functional.logsigmoid(logit), nn.functional.logsigmoid(-logit)
        dense = x >= self.level
        unlikely = torch.full_like(lesion, UNLIKELY)
        lower = lesion + torch.where(dense, unlikely, torch.zeros_like(lesion))
        upper = lesion + torch.where(dense, torch.zeros_like(lesion), unlikely)
        return torch.cat([background, lower, upper], dim=1)


def fit_gray_level(images: list[np.ndarray], masks: list[np.ndarray]) -> int:
    """The 8-bit gray level (0..255) that best splits class-1 pixels (below) from class-2 pixels (at or
    above) of (H, W) uint8 ``images`` and their (H, W) label ``masks`` (0 background, 1, 2): the level with
    the most pixels on their own side."""
    if len(images) != len(masks) or not images:
        raise ValueError(f"images and masks must be equal, non-empty lists, got {len(images)} and {len(masks)}")
    lower = np.concatenate([np.asarray(i)[np.asarray(m) == 1] for i, m in zip(images, masks)]).astype(np.int64)
    upper = np.concatenate([np.asarray(i)[np.asarray(m) == 2] for i, m in zip(images, masks)]).astype(np.int64)
    if not len(lower) or not len(upper):
        raise ValueError("the masks need pixels of both classes to fit a level")
    below = np.cumsum(np.bincount(lower, minlength=257))  # below[t - 1]: class-1 pixels under t
    at_or_above = np.cumsum(np.bincount(upper, minlength=257)[::-1])[::-1]  # class-2 pixels >= t
    correct = np.concatenate([[0], below[:255]]) + at_or_above[:256]
    return int(np.argmax(correct))
