"""A classifier training run (``lungseg classify train``), on the segmentation run's engine and folder.

Stages: check the config -> read the class folders (pictures gray, coloured marks painted out) -> group
duplicates (identical files and copies of one slice, ``data.slice_groups``), drop label-conflicting
groups -> stratified split with every group on one side -> with ``preprocess.field_of_view: lungs`` each
picture cropped to its lung fields (``data.lung_crop``) -> datasets weighted by distinct slice -> the
shared ``Engine`` (two-phase training, EMA, early stopping, resume) -> temperature scaling of
``best.pt`` on the validation set.

The run folder is the segmentation run's (``config.yaml``, ``split.json``, ``history.csv``,
``best.pt``, ``last.pt``) with ``audit.json`` holding the duplicate groups, label conflicts and marked
files, and ``calibration.json`` (also stored in ``best.pt``'s card).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from lungseg.config import RunConfig
from lungseg.data import Split, build_augmentation, make_split
from lungseg.data.class_dataset import ClassDataset, representatives
from lungseg.data.class_folders import class_names_of, find_labelled_images, read_picture
from lungseg.data.lung_crop import lung_box
from lungseg.data.slice_groups import SliceGroups, group_slices
from lungseg.errors import InputError
from lungseg.io import write_text_atomic
from lungseg.metrics import expected_calibration_error, fit_temperature, negative_log_likelihood, softmax
from lungseg.models import load_checkpoint, model_from_checkpoint, save_checkpoint
from lungseg.preprocessing import PreprocessPlan
from lungseg.training.distributed import Distributed
from lungseg.training.engine import Engine, Logger, RunResult
from lungseg.training.run import check_run_config, check_split_sizes
from lungseg.training.run_folder import RunFolder


@dataclass(frozen=True)
class ClassInputs:
    """What a classifier run trains on, read and checked before its folder is written."""

    split: Split
    groups: SliceGroups
    pictures: dict[str, np.ndarray]
    labels: dict[str, int]
    plan: PreprocessPlan


def train_classifier(
    config: RunConfig | None,
    out,
    resume: bool = False,
    log: Logger = print,
    progress_factory=None,
    epochs: int | None = None,
    split: Split | None = None,
) -> RunResult:
    """Train an image classifier on ``config.data.data`` (class folders) into the run folder ``out``;
    ``split`` (a new run only) replaces the split ``config.data.split`` would make (e.g. scan-disjoint
    folds of ``benchmarks/classifier_scan_cv.py``)."""
    folder = RunFolder(out)
    if not resume:
        if config is None:
            raise ValueError("train_classifier: config is required unless resuming")
        if config.model.task != "classification":
            raise ValueError(
                f"config model.task must be 'classification' for a classifier run, got {config.model.task!r}"
            )
        config = _with_class_names(config)
    config, state = check_run_config(config, folder, resume, epochs)
    torch.set_num_threads(config.train.threads or max(1, os.cpu_count() or 1))
    if split is not None and state is not None:
        raise ValueError("train_classifier: split is for a new run; a resumed run keeps its own")
    inputs = prepare_class_inputs(config, state.card.split if state else split, log)
    if state is None:
        folder.check_apart_from([], [config.data.data])
    transform = build_augmentation(config.augment, config.train.seed)
    train_set = _dataset(config, inputs, inputs.split.train, transform)
    val_set = _dataset(config, inputs, representatives(inputs.split.val, inputs.groups.group_of))
    engine = Engine(config, train_set, val_set, state, Distributed())
    folder.start(config, inputs.split, None if state else inputs.groups)
    log(f"data: {inputs.groups.summary_line()}")
    log(
        f"split: {len(inputs.split.train)} train files ({train_set.epoch_size} slices) / {len(val_set)} val "
        f"slices / {len(inputs.split.test)} test files; model input {inputs.plan.image_size}x{inputs.plan.image_size}"
    )
    if engine.initialised:
        log(f"weights: {engine.initialised[0]} of {engine.initialised[1]} tensors from {config.train.init_from}")
    result = engine.fit(folder, inputs.split, inputs.plan, log, progress_factory)
    if len(val_set) and folder.best.is_file():
        calibration = calibrate(folder, val_set)
        log(
            f"calibration on {len(val_set)} validation slices: temperature {calibration['temperature']:.3f}, "
            f"ECE {calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}, NLL "
            f"{calibration['nll_before']:.4f} -> {calibration['nll_after']:.4f}"
        )
    return result


def _with_class_names(config: RunConfig) -> RunConfig:
    """The config with ``model.class_names`` from the class folders (sorted) when it names none (the
    default ``["lung"]``)."""
    if config.data.data is None:
        raise ValueError("config data.data (the class-folder set) is required for a classifier run")
    if config.model.class_names != ["lung"]:
        return config  # named classes: prepare_class_inputs checks the folders against them
    found = class_names_of(find_labelled_images(config.data.data))
    return replace(config, model=replace(config.model, class_names=found))


def prepare_class_inputs(config: RunConfig, split: Split | None, log: Logger) -> ClassInputs:
    """Read and group the set; ``split`` (a resumed run's) or a new stratified, group-preserving one."""
    images = find_labelled_images(config.data.data)
    names = list(config.model.class_names)
    unknown = sorted({item.label for item in images} - set(names))
    if unknown:
        raise InputError(config.data.data, f"class folder(s) {unknown} are not among the model's classes {names}")
    read = {item.name: read_picture(item.path) for item in images}
    pictures = {name: unmarked.gray for name, unmarked in read.items()}
    groups = group_slices(
        images,
        [pictures[item.name] for item in images],
        {name: unmarked.marked_fraction for name, unmarked in read.items()},
    )
    for conflict in groups.conflicts():
        log(
            f"warning: label conflict, left out: {', '.join(conflict)} are one slice filed under "
            f"{', '.join(sorted({groups.labels[n] for n in conflict}))}"
        )
    usable = groups.usable()
    labels = {name: names.index(groups.labels[name]) for name in usable}
    if split is None:
        links = [(link.first, link.second) for link in groups.links if link.first in labels and link.second in labels]
        split = make_split(
            usable,
            config.data.split,
            config.data.split_seed,
            None,
            links,
            {name: groups.labels[name] for name in usable},
        )
    check_split_sizes(split, config.data.data, log)
    if config.preprocess.field_of_view == "lungs":
        pictures = {name: lung_box(picture).crop(picture) for name, picture in pictures.items() if name in labels}
    plan = PreprocessPlan.fit(config.preprocess, [(name, pictures[name]) for name in split.train])
    return ClassInputs(split, groups, pictures, labels, plan)


def _dataset(config: RunConfig, inputs: ClassInputs, names: list[str], transform=None) -> ClassDataset:
    missing = [name for name in names if name not in inputs.labels]
    if missing:
        raise InputError(config.data.data, f"{len(missing)} sample(s) of the split are missing, e.g. {missing[0]}")
    return ClassDataset(
        names,
        [inputs.pictures[n] for n in names],
        [inputs.labels[n] for n in names],
        inputs.plan,
        len(config.model.class_names),
        transform,
        inputs.groups.group_of,
        config.train.class_balance if transform is not None else "none",
    )


@torch.no_grad()
def dataset_logits(model: torch.nn.Module, dataset: ClassDataset, batch: int = 32) -> np.ndarray:
    """(N, K) logits of every item of ``dataset`` (no augmentation: its transform is not applied here)."""
    model.eval()
    device = next(model.parameters()).device
    images = torch.from_numpy(dataset.images)[:, None]
    return (
        np.concatenate(
            [model(images[i : i + batch].to(device)).float().cpu().numpy() for i in range(0, len(images), batch)]
        )
        if len(images)
        else np.zeros((0, dataset.classes), np.float32)
    )


def calibrate(folder: RunFolder, val_set: ClassDataset) -> dict:
    """Fit the softmax temperature of ``best.pt`` on the validation slices; store it in its card and in
    ``calibration.json``. Returns the calibration record."""
    checkpoint = load_checkpoint(folder.best)
    logits = dataset_logits(model_from_checkpoint(checkpoint, folder.best), val_set)
    truth = val_set.labels
    temperature = fit_temperature(logits, truth)
    before, after = softmax(logits), softmax(logits, temperature)
    record = {
        "temperature": float(temperature),
        "fitted_on": f"validation split, {len(truth)} distinct slices",
        "ece_before": expected_calibration_error(before, truth),
        "ece_after": expected_calibration_error(after, truth),
        "nll_before": negative_log_likelihood(before, truth),
        "nll_after": negative_log_likelihood(after, truth),
    }
    save_checkpoint(folder.best, replace(checkpoint, card=replace(checkpoint.card, calibration=record)))
    write_text_atomic(folder.path / "calibration.json", json.dumps(record, indent=1))
    return record
