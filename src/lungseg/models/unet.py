"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015) with 'same' padding.

Encoder: ``depth`` down-steps of ConvBlock + 2x2 max-pool, filters doubling from ``base_filters``;
a bottleneck ConvBlock; a mirrored decoder with skip connections; a 1x1 head returning logits.
"""

from __future__ import annotations

import torch
from torch import nn

from lungseg.models.blocks import ConvBlock, UpBlock
from lungseg.models.registry import register_model


@register_model("unet")
class UNet(nn.Module):
    """Input (N, in_channels, H, W) with H and W divisible by 2**depth; output logits
    (N, out_channels, H, W). Apply a sigmoid (binary) or softmax (multi-class) for probabilities.

    ``dropout`` applies to the bottleneck and the deepest encoder block, as in the original paper.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base_filters: int = 16, depth: int = 4,
                 batch_norm: bool = True, dropout: float = 0.0, upsampling: str = "transpose"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("base_filters", base_filters), ("depth", depth)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.depth = depth
        filters = [base_filters * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList()
        for level in range(depth):
            deepest = level == depth - 1
            self.encoders.append(ConvBlock(in_channels if level == 0 else filters[level - 1], filters[level],
                                           batch_norm, dropout if deepest else 0.0))
        self.bottleneck = ConvBlock(filters[depth - 1], filters[depth], batch_norm, dropout)
        self.decoders = nn.ModuleList(
            UpBlock(filters[level + 1], filters[level], upsampling, batch_norm, 0.0)
            for level in reversed(range(depth)))
        self.head = nn.Conv2d(filters[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        divisor = 2**self.depth
        if x.ndim != 4 or x.shape[-1] % divisor or x.shape[-2] % divisor:
            raise ValueError(f"UNet input must be (N, C, H, W) with H and W divisible by {divisor} "
                             f"(depth {self.depth}); got shape {tuple(x.shape)}")
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for decoder in self.decoders:
            x = decoder(x, skips.pop())
        return self.head(x)
