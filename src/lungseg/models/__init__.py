"""Segmentation networks (all return logits), their registry and checkpoint format.

Contract for every registered model: ``forward`` takes (N, in_channels, H, W) float tensors and
returns (N, out_channels, H, W) logits; constructor kwargs are plain JSON-able values so a checkpoint
can rebuild the model with ``build_model(name, **kwargs)``.
"""

from lungseg.models import unet as _unet  # noqa: F401  (registers "unet")
from lungseg.models.checkpoint import (
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from lungseg.models.registry import available_models, build_model, register_model
from lungseg.models.unet import UNet

__all__ = [
    "UNet", "available_models", "build_model", "load_checkpoint", "make_checkpoint",
    "model_from_checkpoint", "register_model", "save_checkpoint",
]
