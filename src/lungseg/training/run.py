"""A training run: data -> split -> plan -> model -> epochs -> checkpoints, in one run folder.

Run folder contents: ``config.yaml``, ``split.json``, ``history.csv`` (one row per epoch),
``batch_losses.csv``, ``best.pt`` (lowest monitored loss) and ``last.pt`` (with optimizer and scheduler
state for ``--resume``). Every file is written atomically. Each epoch reseeds its shuffling,
augmentation and dropout from ``seed + epoch``, so a resumed run repeats what an uninterrupted run
would have done.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from lungseg.config import RunConfig, dump_config
from lungseg.data import SliceDataset, Split, build_augmentation, find_pairs, load_pair, make_split, resolve_folders
from lungseg.errors import InputError
from lungseg.io import write_text_atomic
from lungseg.losses import build_loss
from lungseg.models import build_model, load_checkpoint, make_checkpoint, resolve_kwargs, save_checkpoint
from lungseg.preprocessing import PreprocessPlan
from lungseg.training.loop import train_epoch, validate
from lungseg.training.optim import build_optimizer, build_scheduler, current_lr, step_scheduler

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_dice", "val_iou", "val_accuracy", "lr", "seconds")


@dataclass
class RunResult:
    out: Path
    epochs_run: int
    best_epoch: int
    best_loss: float
    stopped_early: bool
    seconds: float


Logger = Callable[[str], None]


def train_run(config: RunConfig | None, out: str | Path, resume: bool = False, log: Logger = print,
              progress_factory=None, epochs: int | None = None) -> RunResult:
    """Train as ``config`` says, writing the run folder ``out``.

    ``resume`` continues ``out/last.pt`` with the run's saved config (``config`` is ignored); ``epochs``
    raises or lowers the epoch limit of a resumed run.
    """
    out = Path(out)
    state = None
    if resume:
        state = load_checkpoint(out / "last.pt")
        config = RunConfig.from_dict(state["config"])
        if epochs is not None:
            config.train.epochs = epochs
    elif config is None:
        raise ValueError("train_run: config is required unless resuming")
    elif (out / "last.pt").exists():
        raise InputError(out, "run folder already holds a run; use --resume or a new --out folder")
    torch.set_num_threads(config.train.threads or os.cpu_count() or 1)

    images_dir, masks_dir = resolve_folders(config.data.data, config.data.images, config.data.masks)
    pairs = {pair.name: pair for pair in find_pairs(images_dir, masks_dir)}
    split = Split.from_dict(state["split"]) if state else make_split(
        list(pairs), config.data.split, config.data.split_seed, config.data.group_pattern)
    missing = [name for name in split.train + split.val if name not in pairs]
    if missing:
        raise InputError(images_dir, f"{len(missing)} sample(s) of the saved split are missing, e.g. {missing[0]}")
    train_pairs = [load_pair(pairs[name]) for name in split.train]
    val_pairs = [load_pair(pairs[name]) for name in split.val]
    plan = PreprocessPlan.from_dict(state["preprocessing"]) if state else PreprocessPlan.fit(
        config.preprocess, [(pair.name, pair.image) for pair in train_pairs])

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", dump_config(config))
    split.save(out / "split.json")
    log(f"data: {len(split.train)} train / {len(split.val)} val / {len(split.test)} test slices; "
        f"intensity {plan.intensity}, model input {plan.image_size}x{plan.image_size}")

    border = (config.train.border_w0, config.train.border_sigma) if config.train.border_weights else None
    train_set = SliceDataset(train_pairs, plan, build_augmentation(config.augment, config.train.seed), border)
    val_set = SliceDataset(val_pairs, plan, border_weights=border)
    engine = _Engine(config, train_set, val_set, state)
    divisor = getattr(engine.model, "divisor", 1)
    if plan.image_size % divisor:
        raise ValueError(f"image_size {plan.image_size} must be divisible by {divisor} for model "
                         f"{config.model.name!r}")
    return engine.fit(out, split, plan, log, progress_factory)


class _Engine:
    """Model, optimizer, scheduler and early-stopping state of one run."""

    def __init__(self, config: RunConfig, train_set: SliceDataset, val_set: SliceDataset, state: dict | None):
        self.config = config
        self.train_set, self.val_set = train_set, val_set
        self.model_kwargs = resolve_kwargs(config.model.name, {"in_channels": 1, "out_channels": 1,
                                                               **config.model.kwargs})
        torch.manual_seed(config.train.seed)  # weight initialisation is part of the seeded run
        self.model = build_model(config.model.name, **self.model_kwargs).to(memory_format=torch.channels_last)
        self.encoder = getattr(self.model, "encoder", None)
        if config.train.freeze_encoder_epochs and self.encoder is None:
            raise ValueError(f"freeze_encoder_epochs: model {config.model.name!r} has no pretrained encoder")
        self.optimizer = build_optimizer(self._parameter_groups(), config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, config.train.epochs)
        self.loss_fn = build_loss(config.train.loss, config.train.alpha)
        self.history: list[dict] = []
        self.batch_rows: list[tuple] = []
        self.best_loss, self.best_epoch, self.bad_epochs = float("inf"), 0, 0
        if state is not None:
            self._restore(state)

    def _parameter_groups(self):
        """One group, or with encoder freezing: decoder at lr and encoder at lr x encoder_lr_factor."""
        if not self.config.train.freeze_encoder_epochs:
            return self.model.parameters()
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        return [{"params": [p for p in self.model.parameters() if id(p) not in encoder_ids]},
                {"params": list(self.encoder.parameters()),
                 "lr": self.config.optim.lr * self.config.optim.encoder_lr_factor}]

    def _frozen_encoder(self, epoch: int):
        """Freeze the encoder for the first ``freeze_encoder_epochs`` epochs; returns it while frozen."""
        if not self.config.train.freeze_encoder_epochs:
            return None
        frozen = epoch <= self.config.train.freeze_encoder_epochs
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(not frozen)
        return self.encoder if frozen else None

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["state_dict"])
        training = state["training_state"]
        self.optimizer.load_state_dict(training["optimizer"])
        if self.scheduler is not None and training["scheduler"] is not None:
            self.scheduler.load_state_dict(training["scheduler"])
        self.history = list(training["history"])
        self.batch_rows = [tuple(row) for row in training["batch_losses"]]
        self.best_loss, self.best_epoch = training["best_loss"], training["best_epoch"]
        self.bad_epochs = training["bad_epochs"]

    def _loader(self, dataset: SliceDataset, epoch: int, shuffle: bool) -> DataLoader:
        batch = self.config.train.batch_size
        generator = torch.Generator().manual_seed(self.config.train.seed * 1000 + epoch)
        return DataLoader(dataset, batch_size=batch, shuffle=shuffle, generator=generator,
                          drop_last=shuffle and len(dataset) % batch == 1)

    def fit(self, out: Path, split: Split, plan: PreprocessPlan, log: Logger, progress_factory) -> RunResult:
        train_cfg = self.config.train
        started, stopped_early = time.perf_counter(), False
        first_epoch = len(self.history) + 1
        for epoch in range(first_epoch, train_cfg.epochs + 1):
            row = self._run_epoch(epoch, progress_factory)
            monitored = row["val_loss"] if len(self.val_set) else row["train_loss"]
            improved = monitored < self.best_loss - 1e-6
            if improved:
                self.best_loss, self.best_epoch, self.bad_epochs = monitored, epoch, 0
            else:
                self.bad_epochs += 1
            step_scheduler(self.scheduler, monitored)
            self._write_outputs(out, split, plan, epoch, row, improved)
            log(_format_row(row, improved))
            if self.bad_epochs >= train_cfg.early_stopping_patience:
                log(f"early stopping: no improvement for {self.bad_epochs} epochs")
                stopped_early = True
                break
            minutes = (time.perf_counter() - started) / 60
            if train_cfg.max_minutes and minutes + row["seconds"] / 60 > train_cfg.max_minutes:
                log(f"stopping: another epoch would pass the {train_cfg.max_minutes} minute budget")
                stopped_early = True
                break
        return RunResult(out, len(self.history), self.best_epoch, self.best_loss, stopped_early,
                         time.perf_counter() - started)

    def _run_epoch(self, epoch: int, progress_factory) -> dict:
        start = time.perf_counter()
        torch.manual_seed(self.config.train.seed * 1000 + epoch)
        if self.train_set.transform is not None:
            self.train_set.transform.set_random_seed(self.config.train.seed * 1000 + epoch)
        loader = self._loader(self.train_set, epoch, shuffle=True)
        frozen = self._frozen_encoder(epoch)
        if progress_factory is not None:
            with progress_factory(f"epoch {epoch}/{self.config.train.epochs}", len(loader)) as advance:
                trained = train_epoch(self.model, loader, self.loss_fn, self.optimizer, advance, frozen)
        else:
            trained = train_epoch(self.model, loader, self.loss_fn, self.optimizer, frozen=frozen)
        lr = current_lr(self.optimizer)
        validated = validate(self.model, self._loader(self.val_set, epoch, shuffle=False), self.loss_fn,
                             self.config.train.threshold) if len(self.val_set) else None
        nan = float("nan")
        self.batch_rows += [(epoch, "train", i, v) for i, v in enumerate(trained.batch_losses)]
        if validated:
            self.batch_rows += [(epoch, "val", i, v) for i, v in enumerate(validated.batch_losses)]
        row = {"epoch": epoch, "train_loss": trained.loss, "val_loss": validated.loss if validated else nan,
               "val_dice": validated.metrics["dice"] if validated else nan,
               "val_iou": validated.metrics["iou"] if validated else nan,
               "val_accuracy": validated.metrics["accuracy"] if validated else nan,
               "lr": lr, "seconds": time.perf_counter() - start}
        self.history.append(row)
        return row

    def _write_outputs(self, out: Path, split: Split, plan: PreprocessPlan, epoch: int, row: dict,
                       improved: bool) -> None:
        write_text_atomic(out / "history.csv", _csv(HISTORY_COLUMNS, [
            [r[c] for c in HISTORY_COLUMNS] for r in self.history]))
        write_text_atomic(out / "batch_losses.csv", _csv(("epoch", "phase", "batch", "loss"), self.batch_rows))
        common = {"preprocessing": plan.to_dict(), "config": self.config.to_dict(), "split": split.to_dict(),
                  "epoch": epoch, "metrics": dict(row)}
        model_name = self.config.model.name
        if improved:
            save_checkpoint(out / "best.pt", make_checkpoint(model_name, self.model_kwargs, self.model, **common))
        training_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "history": self.history, "batch_losses": [list(r) for r in self.batch_rows],
            "best_loss": self.best_loss, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}
        save_checkpoint(out / "last.pt", make_checkpoint(model_name, self.model_kwargs, self.model, **common,
                                                         training_state=training_state))


def _csv(columns, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _format_row(row: dict, improved: bool) -> str:
    return (f"epoch {row['epoch']:3d}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"val_dice {row['val_dice']:.4f}  val_iou {row['val_iou']:.4f}  lr {row['lr']:.2e}  "
            f"{row['seconds']:.1f}s{'  *best' if improved else ''}")
