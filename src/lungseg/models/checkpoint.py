"""Checkpoint files: a model card plus the weights (and, for resuming, the training state).

On disk a checkpoint is the card's dict (``ModelCard.to_dict``) with ``state_dict`` and, in a run's
``last.pt``, ``training_state`` added, saved with ``torch.save`` and loaded with ``weights_only=True``
(no pickled code runs on load). In memory it is a ``Checkpoint``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lungseg.errors import InputError, describe
from lungseg.io.atomic import atomic_path
from lungseg.io.shipped import resolve_model
from lungseg.model_card import ModelCard, ModelSpec
from lungseg.models.registry import build_model


@dataclass(frozen=True)
class Checkpoint:
    """``card``: spec, plan, class names, split, metrics, provenance; ``state_dict``: the weights;
    ``training_state``: optimizer, scheduler, EMA and loop history of a run's last epoch (else None)."""

    card: ModelCard
    state_dict: Mapping[str, torch.Tensor]
    training_state: Mapping[str, Any] | None = None

    def to_dict(self) -> dict:
        stored = {**self.card.to_dict(), "state_dict": dict(self.state_dict)}
        if self.training_state is not None:
            stored["training_state"] = dict(self.training_state)
        return stored

    @classmethod
    def of_model(cls, card: ModelCard, model: torch.nn.Module, training_state: Mapping | None = None) -> Checkpoint:
        """A snapshot of ``model``'s current weights, copied to the CPU (so later training does not change
        it, and a checkpoint made on a GPU loads anywhere)."""
        return cls(card, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}, training_state)


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write atomically: a reader never sees a half-written file, and the old file survives a crash."""
    with atomic_path(path) as temporary:
        torch.save(checkpoint.to_dict(), temporary)


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


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint (card, weights); an unreadable, foreign or incomplete file raises
    ``InputError`` saying what is missing. Whether the weights fit the model is checked when it is
    rebuilt (``model_from_checkpoint``)."""
    path = Path(path)
    stored = read_torch_file(path, "checkpoint not found", "not a readable lungseg checkpoint")
    card = ModelCard.from_stored(stored, path, "checkpoint")
    weights = stored.get("state_dict")
    if not isinstance(weights, dict) or not weights or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise InputError(path, "checkpoint holds no weight tensors (state_dict is empty or not tensors)")
    return Checkpoint(card, weights, stored.get("training_state"))


def build_from_spec(spec: ModelSpec, source: str | Path | None = None) -> torch.nn.Module:
    """The network of ``spec`` with fresh weights; a pretrained encoder is never fetched (the
    checkpoint holds its trained weights). ``InputError`` naming ``source`` if the spec does not build."""
    kwargs = dict(spec.kwargs)
    for key in ("encoder_weights", "pretrained"):
        if key in kwargs:
            kwargs[key] = "none"
    try:
        return build_model(spec.name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(source, f"cannot rebuild the checkpoint's model ({exc})") from exc


def model_from_checkpoint(checkpoint: Checkpoint, source: str | Path | None = None) -> torch.nn.Module:
    """Rebuild the model from its card's spec and load the weights (in eval mode). A spec that does not
    build, or weights that do not fit it, raise ``InputError`` naming ``source``."""
    model = build_from_spec(checkpoint.card.spec, source)
    _check_weights(model, checkpoint.state_dict, checkpoint.card.spec.name, source)
    model.load_state_dict(checkpoint.state_dict)
    return model.eval()


def _check_weights(model: torch.nn.Module, weights: dict, name: str, source) -> None:
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    wrong = [key for key in expected if key in weights and tuple(weights[key].shape) != tuple(expected[key].shape)]
    problems = [
        f"{label} {', '.join(keys[:3])}{f' and {len(keys) - 3} more' if len(keys) > 3 else ''}"
        for label, keys in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("tensors of the wrong shape", wrong),
        )
        if keys
    ]
    if problems:
        raise InputError(source, f"weights do not fit model {name!r}: {'; '.join(problems)}")


def initialise_from(model: torch.nn.Module, reference: str | Path) -> tuple[int, int]:
    """Copy into ``model`` every tensor of a checkpoint (a path or a shipped model name) whose name and
    shape match (e.g. all but the output layer of a lung model for a 3-class lesion model); returns
    (tensors copied, tensors in the model). ``InputError`` when nothing fits."""
    path = resolve_model(reference)
    weights = load_checkpoint(path).state_dict
    own = model.state_dict()
    fitting = {name: tensor for name, tensor in weights.items() if name in own and own[name].shape == tensor.shape}
    if not fitting:
        raise InputError(
            path,
            "no tensor of this checkpoint fits the model being trained (train.init_from needs the same architecture)",
        )
    model.load_state_dict(fitting, strict=False)
    return len(fitting), len(own)
