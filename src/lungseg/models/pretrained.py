"""U-Nets on pretrained encoders, built by segmentation_models_pytorch (timm / torchvision encoders).

``encoder_weights``: ``"imagenet"`` uses the library's own download (needs internet once, then its
cache), a file path loads a local encoder state dict, ``"none"`` starts from random weights. With one
input channel, a 3-channel first convolution is adapted by summing its weights over the colour
channels, as segmentation_models_pytorch does for ImageNet weights. Checkpoints store the weights
themselves, so rebuilding from a checkpoint never downloads (see ``model_from_checkpoint``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lungseg.errors import InputError
from lungseg.models.checkpoint import read_torch_file
from lungseg.models.registry import register_model
from lungseg.models.unet import check_input

DROPPED_HEAD_PREFIXES = ("fc.", "classifier.", "head.")


class EncoderUNet(nn.Module):
    """(N, in_channels, H, W), H and W divisible by 32 -> logits (N, out_channels, H, W).

    ``architecture``: ``"unet"`` or ``"unet++"``; ``encoder``: a segmentation_models_pytorch encoder name.
    ``self.encoder`` is the pretrained part (frozen by ``--freeze-encoder-epochs``).
    """

    divisor = 32

    def __init__(
        self,
        architecture: str = "unet",
        encoder: str = "resnet34",
        in_channels: int = 1,
        out_channels: int = 1,
        encoder_weights: str | None = "none",
    ):
        super().__init__()
        import segmentation_models_pytorch as smp

        builders = {"unet": smp.Unet, "unet++": smp.UnetPlusPlus}
        if architecture not in builders:
            raise ValueError(f"architecture must be one of {sorted(builders)}, got {architecture!r}")
        weights = encoder_weights if encoder_weights == "imagenet" else None
        self.net = builders[architecture](
            encoder_name=encoder, encoder_weights=weights, in_channels=in_channels, classes=out_channels
        )
        if encoder_weights not in (None, "none", "imagenet"):
            load_encoder_weights(self.net.encoder, encoder_weights)

    @property
    def encoder(self) -> nn.Module:
        return self.net.encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.divisor, type(self).__name__)
        return self.net(x)


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load a local encoder state dict (a classifier head is ignored; 3->1 channel first conv adapted)."""
    encoder.load_state_dict(fitting_state(encoder.state_dict(), path, DROPPED_HEAD_PREFIXES, "encoder"))


def fitting_state(own: dict, path: str | Path, skipped: tuple[str, ...], what: str) -> dict:
    """A local state-dict file read to fit ``own`` (a module's state dict, or the part of it to load):
    keys starting with ``skipped`` prefixes are dropped, a 3-channel first convolution is summed to the
    one gray channel, and anything missing or extra raises ``InputError`` naming the file."""
    path = Path(path)
    state = read_torch_file(
        path, f"{what} weights file not found (give imagenet, none or a state-dict file)", f"cannot read {what} weights"
    )
    state = state.get("state_dict", state) if isinstance(state, dict) else None
    if not isinstance(state, dict):
        raise InputError(path, f"{what} weights must be a state dict")
    state = {key: value for key, value in state.items() if not key.startswith(skipped)}
    for key, value in state.items():
        if key in own and value.ndim == 4 and own[key].shape[1] != value.shape[1]:
            if own[key].shape[1] != 1:
                raise InputError(path, f"{key}: {value.shape[1]} input channels, model has {own[key].shape[1]}")
            state[key] = value.sum(dim=1, keepdim=True)
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise InputError(path, f"does not fit this {what}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return state


def _factory(architecture: str, encoder: str):
    def build(in_channels: int = 1, out_channels: int = 1, encoder_weights: str | None = "none") -> EncoderUNet:
        return EncoderUNet(architecture, encoder, in_channels, out_channels, encoder_weights)

    build.__doc__ = f"{architecture} decoder on a {encoder} encoder (segmentation_models_pytorch)."
    return build


register_model("resnet34-unet")(_factory("unet", "resnet34"))
register_model("efficientnet-b4-unet")(_factory("unet", "efficientnet-b4"))
register_model("resnet34-unet++")(_factory("unet++", "resnet34"))
