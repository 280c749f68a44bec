"""U-Net++ (Zhou et al., DLMIA 2018): nested, densely connected skip pathways with deep supervision.

Node X(i, j) sits at depth i and column j. X(i, 0) is the encoder. X(i, j) for j >= 1 convolves
the concatenation of X(i, 0..j-1) and the upsampled X(i+1, j-1). A 1x1 head reads each top node
X(0, j), j = 1..depth, so there is one full-resolution output per head.
"""

from __future__ import annotations

import torch
from torch import nn

from lungseg.models.blocks import ConvBlock, upsampler
from lungseg.models.registry import register_model
from lungseg.models.unet import check_input, check_unet_arguments


@register_model("unet++")
class UNetPlusPlus(nn.Module):
    """Input (N, in_channels, H, W), H and W divisible by 2**depth.

    Output in training mode with ``deep_supervision``: a list of ``depth`` logit tensors
    (N, out_channels, H, W), shallow head first (train with ``DeepSupervisionLoss``). Otherwise a
    single logit tensor: the last head (``inference_head="last"``) or the mean of the heads' logits
    (``"mean"``). ``prune_level`` (1..depth) makes evaluation use only the sub-network up to that
    head, skipping the deeper nodes: faster, usually a little less accurate (Zhou et al., sec. 2.3).
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
        deep_supervision: bool = True,
        inference_head: str = "last",
        prune_level: int | None = None,
    ):
        super().__init__()
        check_unet_arguments(in_channels, out_channels, base_filters, depth, dropout)
        if inference_head not in ("last", "mean"):
            raise ValueError(f"inference_head must be 'last' or 'mean', got {inference_head!r}")
        if prune_level is not None and not 1 <= prune_level <= depth:
            raise ValueError(f"prune_level must be in 1..{depth}, got {prune_level}")
        self.depth, self.divisor = depth, 2**depth
        self.deep_supervision, self.inference_head, self.prune_level = deep_supervision, inference_head, prune_level
        filters = [base_filters * 2**level for level in range(depth + 1)]
        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        for i in range(depth + 1):
            entry = in_channels if i == 0 else filters[i - 1]
            self.nodes[f"{i}_0"] = ConvBlock(
                entry, filters[i], batch_norm, dropout if i >= depth - 1 else 0.0, residual, se
            )
            for j in range(1, depth + 1 - i):
                self.ups[f"{i}_{j}"] = upsampler(filters[i + 1], filters[i], upsampling)
                self.nodes[f"{i}_{j}"] = ConvBlock(filters[i] * (j + 1), filters[i], batch_norm, 0.0, residual, se)
        self.heads = nn.ModuleList(nn.Conv2d(filters[0], out_channels, 1) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        check_input(x, self.divisor, type(self).__name__)
        levels = self.depth if self.training or self.prune_level is None else self.prune_level
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(levels + 1):
            nodes[i, 0] = self.nodes[f"{i}_0"](x if i == 0 else nn.functional.max_pool2d(nodes[i - 1, 0], 2))
            for j in range(1, i + 1):  # the new anti-diagonal that X(i, 0) completes
                row = i - j
                inputs = [nodes[row, k] for k in range(j)] + [self.ups[f"{row}_{j}"](nodes[row + 1, j - 1])]
                nodes[row, j] = self.nodes[f"{row}_{j}"](torch.cat(inputs, dim=1))
        outputs = [self.heads[j - 1](nodes[0, j]) for j in range(1, levels + 1)]
        if self.training and self.deep_supervision:
            return outputs
        if self.inference_head == "mean":
            return torch.stack(outputs).mean(dim=0)
        return outputs[-1]
