"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015) with 'same' padding, and its attention variant.

Encoder: ``depth`` down-steps of ConvBlock + 2x2 max-pool, filters doubling from ``base_filters``;
a bottleneck (plain ConvBlock or dilated multi-scale); a mirrored decoder with skip connections
(optionally attention-gated, Oktay et al. 2018); a 1x1 head returning logits.
"""

from __future__ import annotations

import torch
from torch import nn

from lungseg.models.blocks import ConvBlock, DilatedBottleneck, UpBlock
from lungseg.models.registry import register_model


def check_unet_arguments(
    in_channels: int, out_channels: int, base_filters: int, depth: int, dropout: float, bottleneck: str = "plain"
) -> None:
    for name, value in (
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("base_filters", base_filters),
        ("depth", depth),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if bottleneck not in ("plain", "dilated"):
        raise ValueError(f"bottleneck must be 'plain' or 'dilated', got {bottleneck!r}")


def check_input(x: torch.Tensor, divisor: int, name: str) -> None:
    if x.ndim != 4 or x.shape[-1] % divisor or x.shape[-2] % divisor:
        raise ValueError(
            f"{name} input must be (N, C, H, W) with H and W divisible by {divisor}; got shape {tuple(x.shape)}"
        )


@register_model("unet")
class UNet(nn.Module):
    """Input (N, in_channels, H, W) with H and W divisible by 2**depth; output logits
    (N, out_channels, H, W). Apply a sigmoid (binary) or softmax (multi-class) for probabilities.

    ``dropout`` applies to the bottleneck and the deepest encoder block, as in the original paper.
    ``residual`` and ``se`` change every ConvBlock; ``bottleneck="dilated"`` uses dilation rates
    1, 2, 4, 8; ``attention`` gates each skip connection.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
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
        check_unet_arguments(in_channels, out_channels, base_filters, depth, dropout, bottleneck)
        self.depth = depth
        self.divisor = 2**depth
        filters = [base_filters * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(
            ConvBlock(
                in_channels if level == 0 else filters[level - 1],
                filters[level],
                batch_norm,
                dropout if level == depth - 1 else 0.0,
                residual,
                se,
            )
            for level in range(depth)
        )
        if bottleneck == "dilated":
            self.bottleneck = DilatedBottleneck(filters[depth - 1], filters[depth], batch_norm, dropout)
        else:
            self.bottleneck = ConvBlock(filters[depth - 1], filters[depth], batch_norm, dropout, residual, se)
        self.decoders = nn.ModuleList(
            UpBlock(filters[level + 1], filters[level], upsampling, batch_norm, 0.0, residual, se, attention)
            for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(filters[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.divisor, type(self).__name__)
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for decoder in self.decoders:
            x = decoder(x, skips.pop())
        return self.head(x)


@register_model("attention-unet")
class AttentionUNet(UNet):
    """U-Net with additive attention gates on every skip connection (Oktay et al. 2018); same arguments
    as ``UNet`` without ``attention``."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_filters: int = 16,
        depth: int = 4,
        batch_norm: bool = True,
        dropout: float = 0.1,
        upsampling: str = "transpose",
        residual: bool = False,
        se: bool = False,
        bottleneck: str = "plain",
    ):
        super().__init__(
            in_channels,
            out_channels,
            base_filters,
            depth,
            batch_norm,
            dropout,
            upsampling,
            residual,
            se,
            bottleneck,
            attention=True,
        )
