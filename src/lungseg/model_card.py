"""``ModelCard``: everything about a trained model except its weights, in one typed record.

One card travels with every form of a model: a ``.pt`` checkpoint (card + weights), an exported ONNX
file (the card as JSON metadata, the weights in the graph), a ``lungseg cv`` ensemble (the members'
shared card, no split, the member paths) and the shipped weights. ``to_dict`` writes the on-disk
layout that lungseg has always used (keys ``format``, ``lungseg_version``, ``model`` {name, kwargs},
``preprocessing``, ``class_names``, ``config``, ``split``, ``metrics``, ``epoch``, ``ensemble``), and
``from_stored`` reads any file in that layout, including those written before ``class_names``
existed, raising ``InputError`` naming the file for anything missing or malformed. No torch here.

``task`` and ``channels`` are the one answer to "classifier or segmentation model?" and "how many
outputs?" for every form of a model; callers ask the card, never its stored run config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args

from lungseg import __version__
from lungseg.config.run import Task, output_channels
from lungseg.errors import InputError
from lungseg.io.split_record import Split
from lungseg.preprocessing import PreprocessPlan

CARD_FORMAT = 1
DEFAULT_CLASS_NAMES = ("lung",)  # what a card written before class names existed segments
NODULE_CLASSES = ("nodule",)  # a crop-scale nodule model's one class (``lung-nodule``)
NODULE_CROP = 128  # ... and its plan's crop size in pixels (crops at their scans' own scale, not whole slices)
TASKS = get_args(Task)  # "segmentation", "classification"


@dataclass(frozen=True)
class ModelSpec:
    """A registry name and the resolved constructor kwargs that rebuild the network."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_stored(cls, value, source: str | Path | None = None) -> ModelSpec:
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("name"), str)
            or not isinstance(value.get("kwargs"), dict)
        ):
            raise InputError(source, "the model spec must be {name: str, kwargs: dict}")
        return cls(value["name"], dict(value["kwargs"]))


@dataclass(frozen=True)
class Provenance:
    """Where a model came from: the lungseg version and run config that trained it, the epoch its
    weights are from, and for an ensemble the member files (relative to its folder)."""

    lungseg_version: str = __version__
    epoch: int | None = None
    config: Mapping[str, Any] | None = None
    ensemble: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelCard:
    """``class_names``: one name per output channel of the network (``("lung",)`` for the binary lung
    models); ``metrics``: the validation row of the epoch the weights are from; ``split`` is None for
    an ensemble (its members were trained on different splits); ``calibration`` (classifiers): the
    softmax temperature fitted on the validation set and the calibration error before and after."""

    spec: ModelSpec
    plan: PreprocessPlan
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES
    split: Split | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    calibration: Mapping[str, Any] = field(default_factory=dict)  # classifiers: temperature, ECE before/after

    def __post_init__(self):
        if not self.class_names or not all(isinstance(name, str) and name for name in self.class_names):
            raise ValueError(f"class_names must be non-empty names, got {self.class_names!r}")

    @property
    def task(self) -> str:
        """ "segmentation" (per-pixel logits) or "classification" (one logit per class and image): the
        ``model.task`` of the run config that trained it; a card without one (written before classifiers
        existed, or made in code without a config) is a segmentation model."""
        config = self.provenance.config
        model = config.get("model") if isinstance(config, Mapping) else None
        return model.get("task", "segmentation") if isinstance(model, Mapping) else "segmentation"

    @property
    def channels(self) -> int:
        """Output channels of the network: one logit per class for a classifier; 1 (sigmoid) for a one-class
        segmentation model, K + 1 (softmax, background first) for K classes."""
        return output_channels(self.task, len(self.class_names))

    @property
    def nodule_crops(self) -> bool:
        """A crop-scale nodule model (``lung-nodule``: class ``nodule``, a ``NODULE_CROP``-pixel plan): it was
        trained on crops around a nodule at their scans' own scale, so it runs in windows over the lungs
        (``inference.nodules.candidates``) or around a point (``inference.nodules.seeded``), never on whole
        slices resized to its plan. The one place that decides it."""
        return (
            self.task == "segmentation"
            and tuple(self.class_names) == NODULE_CLASSES
            and self.plan.image_size == NODULE_CROP
        )

    def to_dict(self) -> dict:
        stored = {
            "format": CARD_FORMAT,
            "lungseg_version": self.provenance.lungseg_version,
            "model": self.spec.to_dict(),
            "preprocessing": self.plan.to_dict(),
            "class_names": list(self.class_names),
            "config": dict(self.provenance.config) if self.provenance.config is not None else None,
            "split": self.split.to_dict() if self.split is not None else None,
            "metrics": dict(self.metrics),
            "epoch": self.provenance.epoch,
        }
        if self.provenance.ensemble:
            stored["ensemble"] = list(self.provenance.ensemble)
        if self.calibration:
            stored["calibration"] = dict(self.calibration)
        return stored

    @classmethod
    def from_stored(cls, stored, source: str | Path | None = None, kind: str = "model") -> ModelCard:
        """Read and check a stored card (``kind`` "checkpoint": a checkpoint dict; "model": ONNX metadata)."""
        if not isinstance(stored, dict):
            raise InputError(source, f"not a lungseg {kind} (holds a {type(stored).__name__}, not a dict)")
        missing = [
            f"{key}{meaning}"
            for key, meaning in (("format", ""), ("model", " (model spec)"), ("preprocessing", " (preprocessing plan)"))
            if key not in stored
        ]
        if missing:
            raise InputError(source, f"not a complete lungseg {kind}: missing {', '.join(missing)}")
        if not isinstance(stored["format"], int) or stored["format"] > CARD_FORMAT:
            raise InputError(
                source,
                f"{kind} format {stored['format']!r} is not one this lungseg ({__version__}) "
                "understands; upgrade lungseg",
            )
        names = stored.get("class_names") or DEFAULT_CLASS_NAMES
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
            raise InputError(source, f"class_names must be a list of names, got {names!r}")
        try:
            split = Split.from_dict(stored["split"]) if stored.get("split") else None
        except TypeError as exc:
            raise InputError(source, f"stored split is malformed ({exc})") from exc
        provenance = Provenance(
            str(stored.get("lungseg_version", "unknown")),
            stored.get("epoch"),
            stored.get("config"),
            tuple(stored.get("ensemble") or ()),
        )
        card = cls(
            ModelSpec.from_stored(stored["model"], source),
            PreprocessPlan.from_stored(stored["preprocessing"], source),
            tuple(names),
            split,
            dict(stored.get("metrics") or {}),
            provenance,
            dict(stored.get("calibration") or {}),
        )
        if card.task not in TASKS:
            raise InputError(source, f"stored config model.task {card.task!r} is not one of {', '.join(TASKS)}")
        return card

    def as_ensemble(self, members: list[str]) -> ModelCard:
        """The card of an ensemble of models sharing this one's spec and plan: no split, member paths."""
        return replace(self, split=None, provenance=replace(self.provenance, ensemble=tuple(members)))
