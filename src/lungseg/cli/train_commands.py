"""``lungseg train`` and ``lungseg cv``: options -> ``RunConfig`` -> the training library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lungseg.cli.common import (
    DataOption,
    ImagesOption,
    MaskLabelsOption,
    MasksOption,
    app,
    console,
    progress,
    user_errors,
)

# option name -> the config setting it sets; a given option overrides the config file and --set
OVERRIDES = {
    "data": "data.data", "images": "data.images", "masks": "data.masks", "split": "data.split",
    "group_pattern": "data.group_pattern", "allow_leaks": "data.allow_leaks", "mask_labels": "data.mask_labels",
    "model": "model.name", "image_size": "preprocess.image_size", "lr": "optim.lr", "epochs": "train.epochs",
    "batch_size": "train.batch_size", "loss": "train.loss", "seed": "train.seed", "max_minutes": "train.max_minutes",
    "freeze_encoder_epochs": "train.freeze_encoder_epochs", "border_weights": "train.border_weights",
    "ema_decay": "train.ema_decay", "grad_clip": "train.grad_clip", "tensorboard": "train.tensorboard",
    "target_val_dice": "train.target_val_dice",
}

ConfigOption = Annotated[Optional[Path], typer.Option(help="YAML/JSON config; options given here override it.")]
ModelNameOption = Annotated[Optional[str], typer.Option(help="Model name from the registry.")]
ModelArgOption = Annotated[list[str], typer.Option(help="Model kwarg KEY=VALUE (repeatable).")]
EpochsOption = Annotated[Optional[int], typer.Option(help="Maximum epochs.")]
SizeOption = Annotated[Optional[int], typer.Option(help="Model input size (square).")]
BatchOption = Annotated[Optional[int], typer.Option(help="Batch size (per process under torchrun).")]
LrOption = Annotated[Optional[float], typer.Option(help="Learning rate.")]
LossOption = Annotated[Optional[str], typer.Option(help="bce | dice | bce_dice | bce_iou | focal | tversky")]
GroupOption = Annotated[Optional[str], typer.Option(help="Regex naming the patient in a file stem.")]
SeedOption = Annotated[Optional[int], typer.Option()]
MinutesOption = Annotated[Optional[float], typer.Option(help="Stop before this wall-time budget.")]
EmaOption = Annotated[Optional[float], typer.Option(help="Keep an EMA of the weights with this decay (e.g. 0.99).")]
ClipOption = Annotated[Optional[float], typer.Option(help="Clip gradients to this total L2 norm.")]
LeaksOption = Annotated[bool, typer.Option("--allow-leaks", help="Train even if images repeat across splits.")]
BoardOption = Annotated[bool, typer.Option("--tensorboard", help="Log scalars and overlays to OUT/tensorboard.")]


SetOption = Annotated[list[str], typer.Option("--set", help="Any config setting SECTION.KEY=VALUE (repeatable), "
                                                       "e.g. --set optim.optimizer=sgd --set augment.elastic_p=0.2.")]


def build_config(config_file: Path | None, model_args: list[str], sets: list[str],
                 encoder_weights: str | None = None, **options):
    """Parse the options into settings and let the config layer merge and validate them."""
    from lungseg.config import merge_config, parse_assignment
    from lungseg.io import parse_mask_labels

    settings = dict(parse_assignment(text, "--set") for text in sets)
    if options.get("mask_labels") is not None:
        options["mask_labels"] = list(parse_mask_labels(options["mask_labels"]))
    settings.update({OVERRIDES[name]: value for name, value in options.items() if value is not None})
    model_kwargs = dict(parse_assignment(text, "--model-arg") for text in model_args)
    if encoder_weights is not None:
        model_kwargs["encoder_weights"] = encoder_weights
    return merge_config(config_file, settings, model_kwargs)


@app.command()
@user_errors
def train(
    out: Annotated[Path, typer.Option(help="Run folder for checkpoints, history and config.")],
    data: DataOption = None,
    images: ImagesOption = None,
    masks: MasksOption = None,
    config: ConfigOption = None,
    model: ModelNameOption = None,
    model_arg: ModelArgOption = [],  # noqa: B006
    epochs: EpochsOption = None,
    image_size: SizeOption = None,
    batch_size: BatchOption = None,
    lr: LrOption = None,
    loss: LossOption = None,
    split: Annotated[Optional[str], typer.Option(help="70/20/10, 2:1 or kfold:K:I")] = None,
    group_pattern: GroupOption = None,
    seed: SeedOption = None,
    max_minutes: MinutesOption = None,
    encoder_weights: Annotated[Optional[str], typer.Option(
        help="Pretrained encoders: imagenet (library download), a local state-dict PATH, or none.")] = None,
    freeze_encoder_epochs: Annotated[Optional[int], typer.Option(
        help="Train the pretrained encoder frozen for N epochs, then at lr x encoder_lr_factor.")] = None,
    border_weights: Annotated[Optional[bool], typer.Option(
        "--border-weights/--no-border-weights", help="U-Net border weight map on the BCE term.")] = None,
    ema_decay: EmaOption = None,
    grad_clip: ClipOption = None,
    allow_leaks: LeaksOption = False,
    tensorboard: BoardOption = False,
    target_val_dice: Annotated[Optional[float], typer.Option(
        help="Stop after the first epoch whose validation Dice reaches this.")] = None,
    mask_labels: MaskLabelsOption = None,
    set: SetOption = [],  # noqa: B006
    resume: Annotated[bool, typer.Option("--resume", help="Continue OUT/last.pt with its saved config "
                                                           "(only --epochs may change).")] = False,
):
    """Train a segmentation model; writes OUT/best.pt, OUT/last.pt, OUT/history.csv. Under
    `torchrun --nproc-per-node N -m lungseg train ...` it trains data-parallel (DDP)."""
    from lungseg.training import train_run

    if resume:
        result = train_run(None, out, resume=True, log=console().print, progress_factory=progress, epochs=epochs)
        _report_run(result, out)
        return
    run_config = build_config(
        config, model_arg, set, encoder_weights, data=data, images=images, masks=masks, split=split,
        group_pattern=group_pattern, allow_leaks=allow_leaks or None, model=model, image_size=image_size, lr=lr,
        epochs=epochs, batch_size=batch_size, loss=loss, seed=seed, max_minutes=max_minutes,
        freeze_encoder_epochs=freeze_encoder_epochs, border_weights=border_weights, ema_decay=ema_decay,
        grad_clip=grad_clip, tensorboard=tensorboard or None, target_val_dice=target_val_dice,
        mask_labels=mask_labels)
    _report_run(train_run(run_config, out, log=console().print, progress_factory=progress), out)


def _report_run(result, out: Path) -> None:
    if not result.main_process:  # under torchrun only rank 0 reports
        return
    console().print(f"done: {result.epochs_run} epochs in {result.seconds / 60:.1f} min; best epoch "
                    f"{result.best_epoch} (loss {result.best_loss:.4f}) -> {out / 'best.pt'}")


@app.command()
@user_errors
def cv(
    out: Annotated[Path, typer.Option(help="Folder for fold-I/ runs, cv_summary.json and ensemble.json.")],
    folds: Annotated[int, typer.Option(help="Number of folds (K).")] = 5,
    data: DataOption = None,
    images: ImagesOption = None,
    masks: MasksOption = None,
    config: ConfigOption = None,
    model: ModelNameOption = None,
    model_arg: ModelArgOption = [],  # noqa: B006
    epochs: EpochsOption = None,
    image_size: SizeOption = None,
    batch_size: BatchOption = None,
    lr: LrOption = None,
    loss: LossOption = None,
    group_pattern: GroupOption = None,
    seed: SeedOption = None,
    max_minutes: MinutesOption = None,
    ema_decay: EmaOption = None,
    grad_clip: ClipOption = None,
    allow_leaks: LeaksOption = False,
    mask_labels: MaskLabelsOption = None,
    set: SetOption = [],  # noqa: B006
):
    """k-fold cross-validation (folds grouped by --group-pattern): one model per fold, scored on its
    validation fold; prints mean ± sd per metric. `--model OUT` then runs the fold models as an ensemble."""
    from lungseg.crossval import cross_validate, format_cv

    run_config = build_config(
        config, model_arg, set, data=data, images=images, masks=masks, group_pattern=group_pattern,
        allow_leaks=allow_leaks or None, model=model, image_size=image_size, lr=lr, epochs=epochs,
        batch_size=batch_size, loss=loss, seed=seed, max_minutes=max_minutes, ema_decay=ema_decay,
        grad_clip=grad_clip, mask_labels=mask_labels)
    summary = cross_validate(run_config, out, folds, log=console().print, progress_factory=progress)
    print(format_cv(summary))
    console().print(f"wrote {out / 'cv_summary.json'}; ensemble of the fold models: --model {out}")
