"""Building blocks shared by the U-Net family."""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """Two 3x3 'same' convolutions, each followed by optional batch-norm and ReLU; optional dropout.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0):
        layers: list[nn.Module] = []
        for index in range(2):
            layers.append(nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3,
                                    padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class UpBlock(nn.Module):
    """Upsample by 2 (transposed conv or bilinear + 1x1 conv), concatenate the skip, then ConvBlock.

    Shapes: x (N, in_channels, H, W), skip (N, out_channels, 2H, 2W) -> (N, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, upsampling: str, batch_norm: bool, dropout: float):
        super().__init__()
        if upsampling == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        elif upsampling == "bilinear":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, out_channels, 1))
        else:
            raise ValueError(f"upsampling must be 'transpose' or 'bilinear', got {upsampling!r}")
        self.conv = ConvBlock(2 * out_channels, out_channels, batch_norm, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))
