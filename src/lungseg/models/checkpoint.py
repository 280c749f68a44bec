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
from lungseg.errors import InputError, describe
from lungseg.io.atomic import atomic_path
from lungseg.models.registry import build_model
from lungseg.preprocessing import PreprocessPlan

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
        raise InputError(path, f"{unreadable} ({describe(exc)})") from exc


def load_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint's structure (keys, model spec, weights, preprocessing plan); an
    unreadable, foreign or incomplete file raises ``InputError`` saying what is missing. Whether the
    weights fit the model is checked when it is rebuilt (``model_from_checkpoint``)."""
    path = Path(path)
    checkpoint = read_torch_file(path, "checkpoint not found", "not a readable lungseg checkpoint")
    if not isinstance(checkpoint, dict):
        raise InputError(path, f"not a lungseg checkpoint (holds a {type(checkpoint).__name__}, not a dict)")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise InputError(path, f"not a complete lungseg checkpoint: missing {', '.join(missing)}")
    if not isinstance(checkpoint["format"], int) or checkpoint["format"] > CHECKPOINT_FORMAT:
        raise InputError(path, f"checkpoint format {checkpoint['format']!r} is not one this lungseg ({__version__}) "
                               "understands; upgrade lungseg")
    spec = checkpoint["model"]
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("kwargs"), dict):
        raise InputError(path, "checkpoint's model spec must be {name: str, kwargs: dict}")
    weights = checkpoint["state_dict"]
    if not isinstance(weights, dict) or not weights or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise InputError(path, "checkpoint holds no weight tensors (state_dict is empty or not tensors)")
    PreprocessPlan.from_stored(checkpoint["preprocessing"], path)
    return checkpoint


def model_from_checkpoint(checkpoint: dict, source: str | Path | None = None) -> torch.nn.Module:
    """Rebuild the model from its registry name and kwargs and load the weights (in eval mode). A spec
    that does not build, or weights that do not fit it, raise ``InputError`` naming ``source``."""
    spec = checkpoint["model"]
    kwargs = dict(spec["kwargs"])
    if "encoder_weights" in kwargs:  # the checkpoint holds the trained encoder: never fetch weights again
        kwargs["encoder_weights"] = "none"
    try:
        model = build_model(spec["name"], **kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(source, f"cannot rebuild the checkpoint's model ({exc})") from exc
    _check_weights(model, checkpoint["state_dict"], spec["name"], source)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def _check_weights(model: torch.nn.Module, weights: dict, name: str, source) -> None:
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    wrong = [key for key in expected if key in weights and tuple(weights[key].shape) != tuple(expected[key].shape)]
    problems = [f"{label} {', '.join(keys[:3])}{f' and {len(keys) - 3} more' if len(keys) > 3 else ''}"
                for label, keys in (("missing tensors", missing), ("unexpected tensors", unexpected),
                                    ("tensors of the wrong shape", wrong)) if keys]
    if problems:
        raise InputError(source, f"weights do not fit model {name!r}: {'; '.join(problems)}")
