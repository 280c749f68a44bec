"""Segmentation networks and image classifiers (all return logits; classifiers: ``models.classifiers``), their
registry and checkpoints (a model card plus weights).

Contract for every registered model: ``forward`` takes (N, in_channels, H, W) float tensors and
returns (N, out_channels, H, W) logits; constructor kwargs are plain JSON-able values so a checkpoint
can rebuild the model with ``build_model(name, **kwargs)``.
"""

from lungseg.models import classifiers as _classifiers  # noqa: F401  (registers the classifiers)
from lungseg.models import gray_split as _gray_split  # noqa: F401  (registers "gray-split-unet")
from lungseg.models import pretrained as _pretrained  # noqa: F401  (registers the encoder U-Nets)
from lungseg.models import unet as _unet  # noqa: F401  (registers "unet", "attention-unet")
from lungseg.models import unetpp as _unetpp  # noqa: F401  (registers "unet++")
from lungseg.models.checkpoint import (
    Checkpoint,
    build_from_spec,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from lungseg.models.pretrained import EncoderUNet, load_encoder_weights
from lungseg.models.registry import (
    available_models,
    build_model,
    model_arguments,
    model_task,
    register_model,
    resolve_kwargs,
)
from lungseg.models.unet import UNet
from lungseg.models.unetpp import UNetPlusPlus

__all__ = [
    "EncoderUNet",
    "UNet",
    "UNetPlusPlus",
    "load_encoder_weights",
    "available_models",
    "build_model",
    "load_checkpoint",
    "Checkpoint",
    "build_from_spec",
    "model_arguments",
    "model_from_checkpoint",
    "model_task",
    "resolve_kwargs",
    "register_model",
    "save_checkpoint",
]
