"""Segmentation networks (all return logits), their registry and checkpoint format.

Contract for every registered model: ``forward`` takes (N, in_channels, H, W) float tensors and
returns (N, out_channels, H, W) logits; constructor kwargs are plain JSON-able values so a checkpoint
can rebuild the model with ``build_model(name, **kwargs)``.
"""

from lungseg.models import pretrained as _pretrained  # noqa: F401  (registers the encoder U-Nets)
from lungseg.models import unet as _unet  # noqa: F401  (registers "unet", "attention-unet")
from lungseg.models import unetpp as _unetpp  # noqa: F401  (registers "unet++")
from lungseg.models.checkpoint import (
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from lungseg.models.pretrained import EncoderUNet, load_encoder_weights
from lungseg.models.registry import available_models, build_model, model_arguments, register_model, resolve_kwargs
from lungseg.models.unet import UNet
from lungseg.models.unetpp import UNetPlusPlus

__all__ = [
    "EncoderUNet", "UNet", "UNetPlusPlus", "load_encoder_weights", "available_models", "build_model", "load_checkpoint", "make_checkpoint",
    "model_arguments", "model_from_checkpoint", "resolve_kwargs", "register_model", "save_checkpoint",
]
