"""A training run in named stages: check the config -> prepare the inputs (pairs, split, images, plan,
audit) -> set up the fit (datasets, engine) -> write the run folder and train. Nothing is written
before the last stage, so a refused run leaves no folder behind.

Run folder contents: ``config.yaml``, ``split.json``, ``audit.json`` (the data check of the split),
``history.csv`` (one row per epoch, with seconds spent on data, forward, backward and validation),
``batch_losses.csv``, ``best.pt`` (lowest monitored loss) and ``last.pt`` (with optimizer, scheduler and
EMA state for ``--resume``), and with ``tensorboard`` a ``tensorboard/`` event folder. Every file is
written atomically. Under ``torchrun`` each process joins the process group (see ``distributed``);
only rank 0 writes the folder and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from lungseg.config import RunConfig
from lungseg.data import (
    MaskRule,
    SliceDataset,
    Split,
    build_augmentation,
    find_pairs,
    load_pair,
    make_split,
    resolve_folders,
    several_labels_warning,
    split_has_validation,
)
from lungseg.data.audit import audit_split, duplicate_links
from lungseg.errors import InputError
from lungseg.models import Checkpoint, build_model, load_checkpoint, resolve_kwargs
from lungseg.preprocessing import PreprocessPlan
from lungseg.training.distributed import Distributed
from lungseg.training.engine import Engine, Logger, RunResult
from lungseg.training.records import HISTORY_COLUMNS
from lungseg.training.run_folder import RunFolder
from lungseg.training.tensorboard import TensorBoardMonitor  # SummaryWriter (tensorboard) loads only when used

__all__ = ["HISTORY_COLUMNS", "RunResult", "train_run"]


def train_run(
    config: RunConfig | None,
    out: str | Path,
    resume: bool = False,
    log: Logger = print,
    progress_factory=None,
    epochs: int | None = None,
) -> RunResult:
    """Train as ``config`` says, writing the run folder ``out``.

    ``resume`` continues ``out/last.pt`` with the run's saved config (``config`` is ignored); ``epochs``
    raises or lowers the epoch limit of a resumed run. A split whose subsets share identical or
    near-identical images raises ``InputError`` unless ``config.data.allow_leaks``.
    """
    distributed = Distributed.from_environment(config.train.device if config is not None else "auto")
    try:
        return _train(
            config, Path(out), resume, log if distributed.is_main else _quiet, progress_factory, epochs, distributed
        )
    finally:
        distributed.close()


def _quiet(line: str) -> None:
    return None


@dataclass(frozen=True)
class RunInputs:
    """Everything a run trains on, read and checked before the run folder is written."""

    split: Split
    train_pairs: list
    val_pairs: list
    plan: PreprocessPlan
    audit: object | None  # the data audit of the split (None when resuming)


def _train(config, out: Path, resume: bool, log: Logger, progress_factory, epochs, distributed) -> RunResult:
    folder = RunFolder(out, writes=distributed.is_main)
    config, state = _check_config(config, folder, resume, epochs)
    torch.set_num_threads(config.train.threads or max(1, (os.cpu_count() or 1) // distributed.world_size))
    inputs = _prepare_inputs(config, folder, state, log)
    engine = _fit_setup(config, inputs, state, distributed)
    folder.start(config, inputs.split, inputs.audit)  # only now, with everything checked, is the folder written
    split, plan = inputs.split, inputs.plan
    log(
        f"data: {len(split.train)} train / {len(split.val)} val / {len(split.test)} test slices; "
        f"intensity {plan.intensity}, model input {plan.image_size}x{plan.image_size}"
        + (f"; {distributed.world_size} processes" if distributed.enabled else "")
    )
    if engine.initialised:
        log(f"weights: {engine.initialised[0]} of {engine.initialised[1]} tensors from {config.train.init_from}")
    if config.train.tensorboard and folder.writes:
        engine.monitor = TensorBoardMonitor(folder.tensorboard, config.train.threshold)
    try:
        return engine.fit(folder, split, plan, log, progress_factory)
    finally:
        if engine.monitor is not None:
            engine.monitor.close()


def _check_config(config: RunConfig | None, folder: RunFolder, resume: bool, epochs: int | None):
    """Stage 1: the config to run (a resumed run's own, with a new epoch limit) and its saved state."""
    state = None
    if resume:
        state = load_checkpoint(folder.last)
        if state.training_state is None or state.card.provenance.config is None:
            raise InputError(folder.last, "holds no training state to resume from (a best.pt or shipped model?)")
        config = RunConfig.from_dict(state.card.provenance.config)
        if epochs is not None:  # a new limit: continue even a run that had stopped early
            config.train.epochs = epochs
            state = replace(state, training_state={**state.training_state, "stopped": None})
    elif config is None:
        raise ValueError("train_run: config is required unless resuming")
    else:
        folder.check_new()
    config.check_values()
    _check_model(config)
    return config, state


check_run_config = _check_config


def _check_model(config: RunConfig) -> None:
    """The model spec builds and takes the configured input size; before any data is read."""
    kwargs = resolve_kwargs(
        config.model.name, {"in_channels": 1, "out_channels": config.model.channels, **config.model.kwargs}
    )
    for key in ("encoder_weights", "pretrained"):  # the check needs the architecture only, never a download
        if key in kwargs:
            kwargs[key] = "none"
    divisor = getattr(build_model(config.model.name, **kwargs), "divisor", 1)
    if config.preprocess.image_size % divisor:
        raise ValueError(
            f"image_size {config.preprocess.image_size} must be divisible by {divisor} for model {config.model.name!r}"
        )


def _prepare_inputs(config: RunConfig, folder: RunFolder, state: Checkpoint | None, log: Logger) -> RunInputs:
    """Stage 2: pairs, split, loaded images and masks, preprocessing plan and the leak audit."""
    images_dir, masks_dir = resolve_folders(config.data.data, config.data.images, config.data.masks)
    pair_list = find_pairs(images_dir, masks_dir)
    folder.check_apart_from([p for pair in pair_list for p in (pair.image, pair.mask)], [images_dir, masks_dir])
    pairs = {pair.name: pair for pair in pair_list}
    linked = duplicate_links(pair_list) if config.data.group_duplicates and not state else []
    split = (
        state.card.split
        if state
        else make_split(list(pairs), config.data.split, config.data.split_seed, config.data.group_pattern, linked)
    )
    missing = [name for name in split.train + split.val if name not in pairs]
    if missing:
        raise InputError(images_dir, f"{len(missing)} sample(s) of the saved split are missing, e.g. {missing[0]}")
    check_split_sizes(split, images_dir, log)
    masks = MaskRule(config.data.mask_labels, config.model.channels, config.data.mask_mapping)
    train_pairs = [load_pair(pairs[name], masks) for name in split.train]
    val_pairs = [load_pair(pairs[name], masks) for name in split.val]
    _refuse_empty_masks(train_pairs, val_pairs, masks_dir)
    several_labels = several_labels_warning(train_pairs + val_pairs)
    if several_labels:
        log(several_labels)
    plan = (
        state.card.plan
        if state
        else PreprocessPlan.fit(config.preprocess, [(pair.name, pair.image) for pair in train_pairs])
    )
    audit = None if state else _check_leaks(config, split, pairs, folder.path, log)
    return RunInputs(split, train_pairs, val_pairs, plan, audit)


def _fit_setup(config: RunConfig, inputs: RunInputs, state: Checkpoint | None, distributed) -> Engine:
    """Stage 3: datasets on the model grid and the engine (loss, optimizer and EMA are checked here)."""
    border = (config.train.border_w0, config.train.border_sigma) if config.train.border_weights else None
    augmentation = build_augmentation(config.augment, config.train.seed)
    train_set = SliceDataset(inputs.train_pairs, inputs.plan, augmentation, border)
    val_set = SliceDataset(inputs.val_pairs, inputs.plan, border_weights=border)
    return Engine(config, train_set, val_set, state, distributed)


def check_split_sizes(split: Split, folder: Path, log: Logger) -> None:
    """Refuse a split without training samples, or whose spec asks for a validation set that came out
    empty (too few samples or groups); say when the spec itself has no validation set."""
    total = len(split.train) + len(split.val) + len(split.test)
    if not split.train:
        raise InputError(folder, f"split {split.spec!r} of {total} sample(s) leaves no training samples")
    if not split.val:
        if split_has_validation(split.spec):
            raise InputError(
                folder,
                f"split {split.spec!r} of {total} sample(s) leaves the validation set empty, so "
                "no checkpoint could be chosen or scored; add data, or choose a split with a "
                "larger validation share",
            )
        log(
            f"warning: split {split.spec!r} has no validation set: best.pt is the epoch with the lowest "
            "training loss and no validation metrics are recorded"
        )


def _refuse_empty_masks(train_pairs: list, val_pairs: list, masks_dir: Path) -> None:
    """A model cannot learn a structure that no training mask shows."""
    if not any(pair.mask.any() for pair in train_pairs):
        every = "" if any(pair.mask.any() for pair in val_pairs) else "every mask is empty; "
        raise InputError(
            masks_dir,
            f"all {len(train_pairs)} training masks are empty ({every}check the masks "
            "folder, or --mask-labels for label masks)",
        )


def _check_leaks(config: RunConfig, split: Split, pairs: dict, out: Path, log: Logger):
    """Audit the split's images; refuse leaks unless allowed. Returns the audit (written by the caller)."""
    subsets = {name: [pairs[item] for item in getattr(split, name)] for name in ("train", "val", "test")}
    audit = audit_split(subsets, config.data.mask_labels)
    if not audit.leaks:
        return audit
    first = audit.leaks[0]
    message = (
        f"{len(audit.leaks)} image(s) appear in more than one split ({first.describe()}); run "
        "`lungseg data check` for the list"
    )
    if not config.data.allow_leaks:
        raise InputError(
            config.data.data or config.data.images, f"split leaks: {message}. Fix the data or pass --allow-leaks"
        )
    log(f"warning: split leaks (allowed by --allow-leaks): {message}; see {out / 'audit.json'}")
    return audit
