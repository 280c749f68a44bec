"""The in-domain check at inference: is this input like the images the model was trained on?

Every shipped model has a ``preprocessing.domain.DomainModel`` stored with its weights (manifest
``files.domain``, fitted by ``tools/fit_domain.py``). ``load_domain(name)`` reads it (None for a model
without one: a user's own checkpoint); ``check_domain`` measures the prepared model inputs the model
itself sees and gives a ``DomainResult`` whose ``findings()`` are none (in domain) or one ``out-of-domain``
finding: a warning (unlike: verdict ``check``) or a refusal (foreign: no result).
The CT and X-ray segmenters, the ``auto`` router, the lesion stage and the classifier all use this, with
the threshold stored for the model. Measured in ``benchmarks/domain_check.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding, slice_ranges
from lungseg.model_card import ModelCard
from lungseg.preprocessing.domain import FOREIGN, IN, UNLIKE, DomainModel

MAX_SLICES = 9  # slices of a volume measured: evenly spaced over those with at least half the largest lung area


@lru_cache(maxsize=16)
def load_domain(reference: str | Path) -> DomainModel | None:
    """The stored check of a shipped model name; None for a file path or a model shipped without one."""
    from lungseg.io.shipped import fetch_file, shipped_models

    entry = shipped_models().get(str(reference))
    if not entry or "domain" not in entry["files"]:
        return None
    return DomainModel.load(fetch_file(entry["files"]["domain"]))


def input_kind(card: ModelCard) -> str:
    """What the model's training images were, in words."""
    if card.task == "classification":
        return "a chest CT slice picture"
    if card.nodule_crops:
        return "a chest CT crop around a lung nodule"
    if card.plan.intensity == "xray":
        return "a frontal chest radiograph"
    if card.plan.field_of_view == "lungs":
        return "a chest CT slice cropped to the lungs"
    return "an axial chest CT slice"


def prepared_input(card: ModelCard, image: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """A stored image -> the (S, S) model input in [0, 1] the model sees (its plan)."""
    return card.plan.prepare(np.asarray(image), source)[0]


@dataclass(frozen=True)
class DomainResult:
    """``distance`` (median over the measured ``slices``), the model's ``threshold``, the ``status`` (in,
    unlike, foreign), the ``model`` name and what its training images were (``kind``)."""

    model: str
    distance: float
    threshold: float
    status: str
    kind: str
    slices: tuple[int, ...] = ()

    def findings(self) -> list[Finding]:
        """One finding: refusal (foreign), warning (unlike) or nothing (in domain)."""
        where = f", median of slice(s) {slice_ranges(self.slices)}" if len(self.slices) > 1 else ""
        values = {"model": self.model, "distance": self.distance, "threshold": self.threshold, "where": where}
        if self.status == FOREIGN:
            return [catalogue.FOREIGN_INPUT(kind=self.kind, **values)]
        if self.status == UNLIKE:
            return [catalogue.UNLIKE_TRAINING(**values)]
        return []


def check_domain(
    check: DomainModel, model: str, card: ModelCard, prepared: Sequence[np.ndarray], slices: Sequence[int] = ()
) -> DomainResult:
    """Prepared model inputs (S, S) in [0, 1] -> the result: the median distance decides."""
    distance = float(np.median(check.distances_of(prepared)))
    status = check.status(distance)
    return DomainResult(model, distance, check.threshold, status, input_kind(card), tuple(slices))


def measured_slices(labels: np.ndarray) -> list[int]:
    """(Z, H, W) labels -> up to ``MAX_SLICES`` slices, evenly spaced among those with at least half the
    largest lung area (the middle slice when no lung was found)."""
    area = (np.asarray(labels) > 0).reshape(len(labels), -1).sum(axis=1)
    if area.max() == 0:
        return [len(labels) // 2]
    candidates = np.flatnonzero(area >= area.max() / 2)
    picks = np.unique(np.linspace(0, len(candidates) - 1, min(MAX_SLICES, len(candidates))).round().astype(int))
    return [int(candidates[i]) for i in picks]


def check_slices(
    predictor,
    name: str | None,
    images: np.ndarray,
    labels: np.ndarray,
    box: Callable[[int], tuple[slice, slice]] | None = None,
) -> DomainResult | None:
    """A model's check: ``predictor``'s stored check (None without one) on the slices of ``images``
    (Z, H, W, as the model got them) chosen by ``measured_slices(labels)``, each cut to ``box(z)`` when
    given (a lung-cropped lesion model sees its slice's lung box)."""
    check = getattr(predictor, "domain", None)
    if check is None:
        return None
    slices = measured_slices(labels)
    prepared = [prepared_input(predictor.card, images[z][box(z)] if box else images[z]) for z in slices]
    where = slices if len(images) > 1 else ()
    return check_domain(check, name or str(predictor.source), predictor.card, prepared, where)


__all__ = ["FOREIGN", "IN", "UNLIKE", "DomainResult", "check_domain", "check_slices", "load_domain"]
