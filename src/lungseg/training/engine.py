"""The training engine of one run: model, optimizer, schedule, EMA, early stopping and checkpoints.

``best.pt`` holds the weights that scored the lowest monitored loss (the EMA weights when EMA is on:
those are the ones validated); ``last.pt`` holds the raw weights plus everything resuming needs
(optimizer, scheduler, EMA, history, early-stopping state). Both are written atomically at the end of
each epoch only, so a crash or ``kill -9`` mid-epoch leaves the previous epoch's files intact and
``--resume`` repeats exactly what an uninterrupted run would have done on the CPU (each epoch reseeds the
sampler and dropout from the run seed, and each sample's augmentation is seeded by the sampler,
whatever the number of DataLoader workers). On a GPU the run is seeded the same way but not
bit-identical: cuDNN autotuning and atomic additions in the backward pass change the last bits, so a
resumed or repeated GPU run follows the same course but its losses differ in the last digits
(``tests/test_devices.py`` compares with a tolerance where a GPU is present). A NaN/inf loss or gradient stops the
run with
``TrainingDiverged`` before any file is written for that epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lungseg.config import RunConfig
from lungseg.data import SliceDataset, Split
from lungseg.errors import TrainingDiverged
from lungseg.model_card import ModelCard, ModelSpec, Provenance
from lungseg.models import Checkpoint, build_model, resolve_kwargs
from lungseg.models.checkpoint import initialise_from
from lungseg.models.device import default_workers, resolve_device, resolve_precision
from lungseg.preprocessing import PreprocessPlan
from lungseg.training.distributed import Distributed
from lungseg.training.loaders import make_loader
from lungseg.training.loop import StepOptions, train_epoch
from lungseg.training.model_wrappers import compiled, make_ema
from lungseg.training.optim import (
    build_optimizer,
    build_scheduler,
    current_lr,
    step_scheduler,
)
from lungseg.training.records import format_row
from lungseg.training.run_folder import RunFolder
from lungseg.training.tasks import task_of

Logger = Callable[[str], None]


@dataclass
class RunResult:
    out: Path
    epochs_run: int
    best_epoch: int
    best_loss: float
    stopped_early: bool
    seconds: float
    main_process: bool = True  # False on the other ranks under torchrun (they neither log nor report)


class Engine:
    """Model, optimizer, scheduler, EMA and early-stopping state of one run."""

    def __init__(
        self,
        config: RunConfig,
        train_set: SliceDataset,
        val_set: SliceDataset,
        state: Checkpoint | None,
        distributed: Distributed | None = None,
    ):
        self.config = config
        self.train_set, self.val_set = train_set, val_set
        self.distributed = distributed or Distributed()
        self.model_kwargs = resolve_kwargs(
            config.model.name, {"in_channels": 1, "out_channels": config.model.channels, **config.model.kwargs}
        )
        self.device = self.distributed.device or resolve_device(config.train.device)
        self.precision = resolve_precision(config.train.precision, self.device)
        if self.device.type == "cuda":  # autotuned convolutions: fast, but not bit-identical run to run
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(config.train.seed)  # weight initialisation is part of the seeded run
        self.model = build_model(config.model.name, **self.model_kwargs).to(memory_format=torch.channels_last)
        self.initialised = None  # (tensors copied, tensors) from train.init_from
        if config.train.init_from and state is None:
            self.initialised = initialise_from(self.model, config.train.init_from)
        self.model.to(self.device)
        self.encoder = getattr(self.model, "encoder", None)
        if config.train.freeze_encoder_epochs and self.encoder is None:
            raise ValueError(f"freeze_encoder_epochs: model {config.model.name!r} has no pretrained encoder")
        if config.train.freeze_encoder_epochs and self.distributed.enabled:
            raise ValueError(
                "freeze_encoder_epochs cannot be combined with torchrun (DDP needs a fixed set "
                "of trainable parameters); train the frozen phase in one process, then resume"
            )
        self.ema = make_ema(self.model, config.train.ema_decay)
        self.optimizer = build_optimizer(self._parameter_groups(), config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, config.train.epochs)
        self.task = task_of(config)
        self.loss_fn = self.task.loss(config, train_set)
        self.history: list[dict] = []
        self.batch_rows: list[tuple] = []
        self.best_loss, self.best_epoch, self.bad_epochs = float("inf"), 0, 0
        self.stopped: str | None = None  # why an earlier session of this run stopped before its epoch limit
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision.scaled else None
        if state is not None:
            self._restore(state)
        size = config.preprocess.image_size
        example = torch.zeros(1, 1, size, size, device=self.device).contiguous(memory_format=torch.channels_last)
        self.trained_model = compiled(self.distributed.wrap(self.model), config.train.compile, example)
        self.workers = config.train.workers if config.train.workers is not None else default_workers(self.device)
        self.step_options = StepOptions(config.train.grad_clip, self.ema, self.device, self.precision, self.scaler)
        loader_options = (config.train, self.device, self.workers, self.distributed)
        self.train_loader = make_loader(train_set, *loader_options, shuffle=True)
        self.val_loader = make_loader(val_set, *loader_options, shuffle=False) if len(val_set) else None
        self.monitor = None  # optional per-epoch hook (TensorBoard): monitor(epoch, row, model, val_set)

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """The weights that are validated and saved as best: the EMA average when EMA is on."""
        return self.ema.module if self.ema is not None else self.model

    def _parameter_groups(self):
        """One group, or with encoder freezing: decoder at lr and encoder at lr x encoder_lr_factor."""
        if not self.config.train.freeze_encoder_epochs:
            return self.model.parameters()
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        return [
            {"params": [p for p in self.model.parameters() if id(p) not in encoder_ids]},
            {
                "params": list(self.encoder.parameters()),
                "lr": self.config.optim.lr * self.config.optim.encoder_lr_factor,
            },
        ]

    def _frozen_encoder(self, epoch: int):
        """Freeze the encoder for the first ``freeze_encoder_epochs`` epochs; returns it while frozen."""
        if not self.config.train.freeze_encoder_epochs:
            return None
        frozen = epoch <= self.config.train.freeze_encoder_epochs
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(not frozen)
        return self.encoder if frozen else None

    def _restore(self, state: Checkpoint) -> None:
        self.model.load_state_dict(state.state_dict)
        training = state.training_state
        self.optimizer.load_state_dict(training["optimizer"])
        if self.scheduler is not None and training["scheduler"] is not None:
            self.scheduler.load_state_dict(training["scheduler"])
        if self.ema is not None and training.get("ema") is not None:
            self.ema.load_state_dict(training["ema"])
        if self.scaler is not None and training.get("scaler"):
            self.scaler.load_state_dict(training["scaler"])
        self.history = list(training["history"])
        self.batch_rows = [tuple(row) for row in training["batch_losses"]]
        self.best_loss, self.best_epoch = training["best_loss"], training["best_epoch"]
        self.bad_epochs = training["bad_epochs"]
        self.stopped = training.get("stopped")

    def fit(self, folder: RunFolder, split: Split, plan: PreprocessPlan, log: Logger, progress_factory):
        out = folder.path
        train_cfg = self.config.train
        started, stopped_early = time.perf_counter(), False
        if self.stopped:
            log(f"run already finished ({self.stopped}); raise --epochs to train further")
            return RunResult(
                out, len(self.history), self.best_epoch, self.best_loss, True, 0.0, self.distributed.is_main
            )
        for epoch in range(len(self.history) + 1, train_cfg.epochs + 1):
            try:
                row = self._run_epoch(epoch, progress_factory)
            except TrainingDiverged as exc:
                raise TrainingDiverged(
                    f"{exc} in epoch {epoch}; stopped. {self._last_good(out)} Lower the "
                    "learning rate or set --grad-clip."
                ) from None
            monitored = self.distributed.from_main(row["val_loss"] if len(self.val_set) else row["train_loss"])
            improved = monitored < self.best_loss - 1e-6
            if improved:
                self.best_loss, self.best_epoch, self.bad_epochs = monitored, epoch, 0
            else:
                self.bad_epochs += 1
            step_scheduler(self.scheduler, monitored)
            reason = self._stop_reason(row, started)  # the budget depends on each rank's clock: rank 0 decides
            self.stopped = (reason or "rank 0 stopped") if self.distributed.agree(bool(reason)) else None
            self._record(folder, split, plan, epoch, row, improved)
            if self.monitor is not None:  # set on rank 0 only
                self.monitor(epoch, row, self.evaluated_model, self.val_set)
            log(format_row(row, improved, self.task.metric_names))
            if self.stopped:
                log(f"stopping: {self.stopped}")
                stopped_early = True
                break
        return RunResult(
            out,
            len(self.history),
            self.best_epoch,
            self.best_loss,
            stopped_early,
            time.perf_counter() - started,
            self.distributed.is_main,
        )

    def _stop_reason(self, row: dict, started: float) -> str:
        """Why to stop after this epoch ('' to go on): the Dice target, early stopping or the budget."""
        train_cfg = self.config.train
        if train_cfg.target_val_dice is not None and row.get("val_dice", -1.0) >= train_cfg.target_val_dice:
            return f"validation Dice {row['val_dice']:.4f} reached the target {train_cfg.target_val_dice}"
        if self.bad_epochs >= train_cfg.early_stopping_patience:
            return f"early stopping, no improvement for {self.bad_epochs} epochs"
        minutes = (time.perf_counter() - started) / 60
        if train_cfg.max_minutes and minutes + row["seconds"] / 60 > train_cfg.max_minutes:
            return f"another epoch would pass the {train_cfg.max_minutes} minute budget"
        return ""

    def _last_good(self, out: Path) -> str:
        if not self.history:
            return "No checkpoint was written (the first epoch failed)."
        return (
            f"The last good checkpoint is {out / 'last.pt'} (epoch {len(self.history)}); the best is "
            f"{out / 'best.pt'} (epoch {self.best_epoch})."
        )

    def _run_epoch(self, epoch: int, progress_factory) -> dict:
        start = time.perf_counter()
        seed = self.config.train.seed * 1000 + epoch + 100_003 * self.distributed.rank  # rank 0: as one process
        torch.manual_seed(seed)  # dropout; the augmentation is seeded per sample by the sampler
        loader = self.train_loader
        loader.sampler.set_epoch(epoch)
        frozen = self._frozen_encoder(epoch)
        options = self.step_options
        if progress_factory is not None and self.distributed.is_main:
            with progress_factory(f"epoch {epoch}/{self.config.train.epochs}", len(loader)) as advance:
                trained = train_epoch(
                    self.trained_model, loader, self.loss_fn, self.optimizer, advance, frozen, options
                )
        else:
            trained = train_epoch(
                self.trained_model, loader, self.loss_fn, self.optimizer, frozen=frozen, options=options
            )
        lr = current_lr(self.optimizer)
        self.distributed.sync_state(self.evaluated_model)  # rank 0's batch-norm statistics everywhere
        val_start = time.perf_counter()
        validated = (
            self.task.validate(self.evaluated_model, self.val_loader, self.loss_fn, self.config, options)
            if self.val_loader is not None
            else None
        )
        if validated is not None and not torch.isfinite(torch.tensor(validated.loss)):
            raise TrainingDiverged(f"validation loss became {validated.loss}")
        nan = float("nan")
        self.batch_rows += [(epoch, "train", i, v) for i, v in enumerate(trained.batch_losses)]
        if validated:
            self.batch_rows += [(epoch, "val", i, v) for i, v in enumerate(validated.batch_losses)]
        row = {
            "epoch": epoch,
            "train_loss": self.distributed.mean(trained.loss * trained.samples, trained.samples),
            "val_loss": validated.loss if validated else nan,
            **{f"val_{name}": validated.metrics[name] if validated else nan for name in self.task.metric_names},
            "lr": lr,
            "seconds": time.perf_counter() - start,
            **{f"{phase}_seconds": value for phase, value in trained.seconds.items()},
            "val_seconds": time.perf_counter() - val_start,
            "device": str(self.device),
            "precision": self.precision.name,
        }
        self.history.append(row)
        return row

    def _record(
        self, folder: RunFolder, split: Split, plan: PreprocessPlan, epoch: int, row: dict, improved: bool
    ) -> None:
        """Hand the epoch's tables and checkpoints to the run folder (which writes on rank 0 only)."""
        if not folder.writes:
            return
        card = ModelCard(
            ModelSpec(self.config.model.name, dict(self.model_kwargs)),
            plan,
            tuple(self.config.model.class_names),
            split,
            dict(row),
            Provenance(epoch=epoch, config=self.config.to_dict()),
        )
        best = Checkpoint.of_model(card, self.evaluated_model) if improved else None
        training_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "history": self.history,
            "batch_losses": [list(r) for r in self.batch_rows],
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
        }
        last = Checkpoint.of_model(card, self.model, training_state)
        folder.record_epoch(self.history, [list(r) for r in self.batch_rows], best, last, self.task.history_columns)
