"""Checkpoint files: weights plus everything needed to rebuild and use the model.

A checkpoint is a dict saved with ``torch.save`` and loaded with ``weights_only=True`` (no pickled
code runs on load). Keys: ``format``, ``lungseg_version``, ``model`` ({name, kwargs}),
``state_dict``, ``preprocessing`` (the plan), ``config``, ``split``, ``metrics``, ``epoch`` and, for
resuming, ``training_state``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lungseg import __version__
from lungseg.errors import InputError
from lungseg.io.atomic import atomic_path
from lungseg.models.registry import build_model

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("format", "model", "state_dict", "preprocessing")


def make_checkpoint(model_name: str, model_kwargs: dict, model: torch.nn.Module, **fields: Any) -> dict:
    """Assemble a checkpoint dict; ``fields`` adds preprocessing, config, split, metrics, epoch, ..."""
    return {"format": CHECKPOINT_FORMAT, "lungseg_version": __version__,
            "model": {"name": model_name, "kwargs": dict(model_kwargs)},
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}, **fields}


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write atomically: a reader never sees a half-written file, and the old file survives a crash."""
    with atomic_path(path) as temporary:
        torch.save(checkpoint, temporary)


def read_torch_file(path: str | Path, missing: str, unreadable: str):
    """``torch.load`` on the CPU with ``weights_only=True``; a missing or unreadable file raises
    ``InputError`` with the given reasons (the loader's own message is appended to ``unreadable``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, missing)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(path, f"{unreadable} ({str(exc).splitlines()[0][:160]})") from exc


def load_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint; an unreadable or foreign file raises ``InputError``."""
    path = Path(path)
    checkpoint = read_torch_file(path, "checkpoint not found", "not a readable lungseg checkpoint")
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise InputError(path, f"not a lungseg checkpoint (needs keys {', '.join(REQUIRED_KEYS)})")
    if checkpoint["format"] > CHECKPOINT_FORMAT:
        raise InputError(path, f"checkpoint format {checkpoint['format']} is newer than this lungseg "
                               f"({__version__}) understands; upgrade lungseg")
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> torch.nn.Module:
    """Rebuild the model from its registry name and kwargs and load the weights (in eval mode)."""
    spec = checkpoint["model"]
    kwargs = dict(spec["kwargs"])
    if "encoder_weights" in kwargs:  # the checkpoint holds the trained encoder: never fetch weights again
        kwargs["encoder_weights"] = "none"
    model = build_model(spec["name"], **kwargs)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
