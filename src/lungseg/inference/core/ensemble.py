"""An ensemble of models with one preprocessing plan (e.g. the fold models of ``lungseg cv``).

``OUT/ensemble.json`` (written by ``lungseg cv``) lists the member checkpoints relative to OUT;
``Predictor.load(OUT)`` runs them all and averages their sigmoid probabilities (softmax for K-class
models). The backend returns the logit of that mean, so everything downstream (threshold, TTA, quality)
works unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.inference.core.backends import make_backend
from lungseg.model_card import ModelCard

ENSEMBLE_FILE = "ensemble.json"


class EnsembleBackend:
    name = "ensemble"

    def __init__(self, members: list):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members
        self.name = f"ensemble of {len(members)} ({members[0].name})"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        outputs = [member(batch) for member in self.members]
        if outputs[0].shape[1] > 1:  # K classes: mean softmax; its log is a logit vector with that softmax
            shifted = [np.exp(o - o.max(axis=1, keepdims=True)) for o in outputs]
            probability = np.mean([s / s.sum(axis=1, keepdims=True) for s in shifted], axis=0)
            return np.log(np.clip(probability, 1e-7, 1.0)).astype(np.float32)
        probability = np.mean([1.0 / (1.0 + np.exp(-o)) for o in outputs], axis=0)
        probability = np.clip(probability, 1e-7, 1 - 1e-7)
        return np.log(probability / (1 - probability)).astype(np.float32)


def is_ensemble(reference) -> bool:
    return Path(reference).is_dir() and (Path(reference) / ENSEMBLE_FILE).is_file()


def load_ensemble(
    folder: str | Path, backend: str = "auto", device: str = "auto", precision: str = "auto"
) -> tuple[ModelCard, EnsembleBackend]:
    """Read ``folder/ensemble.json`` -> (the members' shared card without a split, listing the member
    paths; the averaging backend). All members must share one preprocessing plan and class names."""
    from lungseg.models import load_checkpoint  # imports PyTorch

    folder = Path(folder)
    members_list = read_members(folder / ENSEMBLE_FILE)
    checkpoints = [load_checkpoint(folder / member) for member in members_list]
    if len({c.card.plan for c in checkpoints}) > 1:
        raise InputError(folder, "the ensemble's members use different preprocessing plans")
    if len({c.card.class_names for c in checkpoints}) > 1:
        raise InputError(folder, "the ensemble's members segment different classes")
    members = [
        make_backend(checkpoint, backend, source=folder / member, device=device, precision=precision)
        for member, checkpoint in zip(members_list, checkpoints)
    ]
    return checkpoints[0].card.as_ensemble(members_list), EnsembleBackend(members)


def read_members(path: Path) -> list[str]:
    """The member checkpoints listed in ``ensemble.json`` (relative paths); ``InputError`` naming the file
    when it cannot be read, is not JSON or lists no members (a missing member file is named when loaded)."""
    try:
        listing = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the ensemble listing ({describe(exc)})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f'not valid JSON ({exc.msg} at line {exc.lineno}); expected {{"members": ["fold-0/best.pt", ...]}}'
        ) from exc
    members = listing.get("members") if isinstance(listing, dict) else None
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise InputError(path, 'lists no member checkpoints; expected {"members": ["fold-0/best.pt", ...]}')
    return members
