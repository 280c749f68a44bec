"""Building blocks shared by the U-Net family."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(
    in_channels: int, out_channels: int, batch_norm: bool, kernel: int = 3, dilation: int = 1, relu: bool = True
) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels, out_channels, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=not batch_norm
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al. 2018): global pool, bottleneck MLP, sigmoid gates per channel.

    Shape: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ConvBlock(nn.Module):
    """Two 3x3 'same' convolutions with optional batch-norm, then ReLU; options: a residual shortcut
    (He et al. 2016), squeeze-and-excitation, dropout.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        batch_norm: bool = True,
        dropout: float = 0.0,
        residual: bool = False,
        se: bool = False,
    ):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn_relu(in_channels, out_channels, batch_norm),
            *_conv_bn_relu(out_channels, out_channels, batch_norm, relu=False),
        )
        self.se = SqueezeExcitation(out_channels) if se else nn.Identity()
        self.shortcut = None
        if residual:
            self.shortcut = (
                nn.Identity()
                if in_channels == out_channels
                else nn.Sequential(*_conv_bn_relu(in_channels, out_channels, batch_norm, kernel=1, relu=False))
            )
        self.activation = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.body(x))
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.dropout(self.activation(y))


class DilatedBottleneck(nn.Module):
    """Parallel 3x3 convolutions with dilation rates (1, 2, 4, 8) fused by a 1x1 convolution: a
    multi-scale receptive field at the bottom of the U.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        batch_norm: bool = True,
        dropout: float = 0.0,
        rates: tuple[int, ...] = (1, 2, 4, 8),
    ):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*_conv_bn_relu(in_channels, out_channels, batch_norm, dilation=rate)) for rate in rates
        )
        self.fuse = nn.Sequential(*_conv_bn_relu(out_channels * len(rates), out_channels, batch_norm, kernel=1))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1)))


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018): the decoder signal ``gate`` decides which skip
    pixels pass. Shapes: gate (N, Cg, H, W), skip (N, Cs, H, W) -> gated skip (N, Cs, H, W)."""

    def __init__(self, gate_channels: int, skip_channels: int, batch_norm: bool = True):
        super().__init__()
        inter = max(skip_channels // 2, 1)
        self.from_gate = nn.Sequential(*_conv_bn_relu(gate_channels, inter, batch_norm, kernel=1, relu=False))
        self.from_skip = nn.Sequential(*_conv_bn_relu(skip_channels, inter, batch_norm, kernel=1, relu=False))
        self.coefficients = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(inter, 1, 1), nn.Sigmoid())

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip * self.coefficients(self.from_gate(gate) + self.from_skip(skip))


def upsampler(in_channels: int, out_channels: int, upsampling: str) -> nn.Module:
    """x2 upsampling: 2x2 transposed convolution, or bilinear followed by a 1x1 convolution."""
    if upsampling == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
    if upsampling == "bilinear":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(in_channels, out_channels, 1)
        )
    raise ValueError(f"upsampling must be 'transpose' or 'bilinear', got {upsampling!r}")


class UpBlock(nn.Module):
    """Upsample by 2, optionally gate the skip with attention, concatenate, then ConvBlock.

    Shapes: x (N, in_channels, H, W), skip (N, out_channels, 2H, 2W) -> (N, out_channels, 2H, 2W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        upsampling: str,
        batch_norm: bool,
        dropout: float,
        residual: bool = False,
        se: bool = False,
        attention: bool = False,
    ):
        super().__init__()
        self.up = upsampler(in_channels, out_channels, upsampling)
        self.gate = AttentionGate(out_channels, out_channels, batch_norm) if attention else None
        self.conv = ConvBlock(2 * out_channels, out_channels, batch_norm, dropout, residual, se)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if self.gate is not None:
            skip = self.gate(x, skip)
        return self.conv(torch.cat([x, skip], dim=1))
