"""Image classifiers: timm networks and a U-Net-encoder network, behind the segmentation registry.

Contract: ``forward`` takes (N, in_channels, H, W) float tensors (pictures scaled to [0, 1]) and returns
(N, out_channels) logits, one per class; ``softmax`` gives the probabilities. ``encoder`` is every
part but the classification head (frozen by ``--freeze-encoder-epochs``) and ``cam_layer`` the last
convolutional stage, whose activations Grad-CAM weighs.

``pretrained``: ``"none"`` (random weights), ``"imagenet"`` (timm's own download: needs internet once,
then its cache) or a local file holding a state dict of the timm network (its head is ignored; a
3-channel first convolution is summed to one channel). Checkpoints hold the trained weights, so
rebuilding one never downloads. The ``unet-encoder-classifier`` has the encoder of lungseg's ``unet``
(same tensor names), so ``train.init_from: ct-lung`` starts it from the shipped CT lung model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lungseg.models.blocks import ConvBlock
from lungseg.models.pretrained import fitting_state
from lungseg.models.registry import register_model
from lungseg.models.unet import check_input

TIMM_BACKBONES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    **{f"efficientnet-b{i}": f"efficientnet_b{i}" for i in range(5)},
}


class _Parts(nn.Module):
    """A view on some sub-modules of a model (not registered in it): for freezing and ``eval()``."""

    def __init__(self, modules: list[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(modules)


class TimmClassifier(nn.Module):
    """A timm classification network; (N, in_channels, H, W) -> (N, out_channels) logits."""

    divisor = 32

    def __init__(
        self,
        backbone: str = "resnet18",
        in_channels: int = 1,
        out_channels: int = 4,
        pretrained: str = "none",
        drop_rate: float = 0.2,
    ):
        super().__init__()
        import timm

        if backbone not in TIMM_BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(TIMM_BACKBONES)}, got {backbone!r}")
        if out_channels < 2:
            raise ValueError(f"out_channels (classes) must be >= 2, got {out_channels}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        self.net = timm.create_model(
            TIMM_BACKBONES[backbone],
            pretrained=pretrained == "imagenet",
            in_chans=in_channels,
            num_classes=out_channels,
            drop_rate=drop_rate,
        )
        if pretrained not in ("none", "imagenet"):
            load_backbone_weights(self.net, pretrained)

    @property
    def encoder(self) -> nn.Module:
        head = self.net.get_classifier()
        return _Parts([module for module in self.net.children() if module is not head])

    @property
    def cam_layer(self) -> nn.Module:
        for name in ("layer4", "conv_head"):  # ResNet, EfficientNet
            if hasattr(self.net, name):
                return getattr(self.net, name)
        raise ValueError(f"no Grad-CAM layer known for {type(self.net).__name__}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.divisor, type(self).__name__)
        return self.net(x)


class UNetEncoderClassifier(nn.Module):
    """The encoder and bottleneck of lungseg's ``unet`` (same names and shapes), global average + max
    pooling and a linear head; (N, in_channels, H, W) -> (N, out_channels) logits."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 4,
        base_filters: int = 16,
        depth: int = 4,
        drop_rate: float = 0.2,
    ):
        super().__init__()
        if out_channels < 2:
            raise ValueError(f"out_channels (classes) must be >= 2, got {out_channels}")
        filters = [base_filters * 2**level for level in range(depth + 1)]
        self.divisor = 2**depth
        self.encoders = nn.ModuleList(
            ConvBlock(in_channels if level == 0 else filters[level - 1], filters[level], True, 0.0)
            for level in range(depth)
        )
        self.bottleneck = ConvBlock(filters[depth - 1], filters[depth], True, 0.0)
        self.dropout = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(2 * filters[depth], out_channels)

    @property
    def encoder(self) -> nn.Module:
        return _Parts([self.encoders, self.bottleneck])

    @property
    def cam_layer(self) -> nn.Module:
        return self.bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.divisor, type(self).__name__)
        for encoder in self.encoders:
            x = nn.functional.max_pool2d(encoder(x), 2)
        x = self.bottleneck(x)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.classifier(self.dropout(pooled))


def load_backbone_weights(net: nn.Module, path: str | Path) -> None:
    """Load a local state dict into a timm network, all but its classification head."""
    head = tuple(f"{name}." for name, module in net.named_children() if module is net.get_classifier())
    own = {key: value for key, value in net.state_dict().items() if not key.startswith(head)}
    net.load_state_dict(fitting_state(own, path, head, "network"), strict=False)


def _factory(backbone: str):
    def build(
        in_channels: int = 1, out_channels: int = 4, pretrained: str = "none", drop_rate: float = 0.2
    ) -> TimmClassifier:
        return TimmClassifier(backbone, in_channels, out_channels, pretrained, drop_rate)

    build.__doc__ = f"{backbone} classifier (timm); (N, C, H, W) -> (N, classes) logits."
    build.task = "classification"
    return build


for _backbone in TIMM_BACKBONES:
    register_model(f"{_backbone}-classifier")(_factory(_backbone))
UNetEncoderClassifier.task = "classification"
register_model("unet-encoder-classifier")(UNetEncoderClassifier)
