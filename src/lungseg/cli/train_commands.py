"""``lungseg train`` and ``lungseg cv``: options -> ``RunConfig`` -> the training library.

Both commands take the same run options, declared once in ``RUN_OPTIONS`` (option -> the config setting
it sets, its type and help) and added to each command's signature by ``with_run_options``; any other
setting is reachable with ``--set SECTION.KEY=VALUE``. The config layer merges and validates them.
"""

from __future__ import annotations

import inspect
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, get_args

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
from lungseg.config import LossName, merge_config, parse_assignment


def _option(kind, help: str | None = None, *names: str):
    return Annotated[kind | None, typer.Option(*names, help=help)]


# option -> (config setting it sets, or None for the options build_config reads itself; annotation; default)
RUN_OPTIONS: dict[str, tuple[str | None, Any, Any]] = {
    "data": ("data.data", DataOption, None),
    "images": ("data.images", ImagesOption, None),
    "masks": ("data.masks", MasksOption, None),
    "config": (None, _option(Path, "YAML/JSON config; options given here override it."), None),
    "model": ("model.name", _option(str, "Model name from the registry."), None),
    "model_arg": (None, Annotated[list[str], typer.Option(help="Model kwarg KEY=VALUE (repeatable).")], []),
    "encoder_weights": (
        None,
        _option(str, "Pretrained encoders: imagenet (library download), a local state-dict PATH, or none."),
        None,
    ),
    "epochs": ("train.epochs", _option(int, "Maximum epochs."), None),
    "image_size": ("preprocess.image_size", _option(int, "Model input size (square)."), None),
    "batch_size": ("train.batch_size", _option(int, "Batch size (per process under torchrun)."), None),
    "lr": ("optim.lr", _option(float, "Learning rate."), None),
    "loss": ("train.loss", _option(str, " | ".join(get_args(LossName))), None),
    "split": ("data.split", _option(str, "70/20/10, 2:1 or kfold:K:I"), None),
    "group_pattern": ("data.group_pattern", _option(str, "Regex naming the patient in a file stem."), None),
    "seed": ("train.seed", _option(int), None),
    "max_minutes": ("train.max_minutes", _option(float, "Stop before this wall-time budget."), None),
    "freeze_encoder_epochs": (
        "train.freeze_encoder_epochs",
        _option(int, "Train the pretrained encoder frozen for N epochs, then at lr x encoder_lr_factor."),
        None,
    ),
    "border_weights": (
        "train.border_weights",
        _option(bool, "U-Net border weight map on the BCE term.", "--border-weights/--no-border-weights"),
        None,
    ),
    "ema_decay": ("train.ema_decay", _option(float, "Keep an EMA of the weights with this decay (e.g. 0.99)."), None),
    "grad_clip": ("train.grad_clip", _option(float, "Clip gradients to this total L2 norm."), None),
    "allow_leaks": (
        "data.allow_leaks",
        Annotated[bool, typer.Option("--allow-leaks", help="Train even if images repeat across splits.")],
        False,
    ),
    "tensorboard": (
        "train.tensorboard",
        Annotated[bool, typer.Option("--tensorboard", help="Log scalars and overlays to OUT/tensorboard.")],
        False,
    ),
    "target_val_dice": (
        "train.target_val_dice",
        _option(float, "Stop after the first epoch whose validation Dice reaches this."),
        None,
    ),
    "mask_labels": ("data.mask_labels", MaskLabelsOption, None),
    "device": (
        "train.device",
        _option(str, "auto | cpu | cuda | cuda:N | mps (auto: CUDA when PyTorch sees a GPU, else the CPU)."),
        None,
    ),
    "precision": (
        "train.precision",
        _option(
            str,
            "auto | fp32 | bf16 | fp16 (auto: bf16 autocast on a CUDA GPU, "
            "fp16 with a gradient scaler on older GPUs, fp32 elsewhere).",
        ),
        None,
    ),
    "compile": (
        "train.compile",
        Annotated[
            bool,
            typer.Option("--compile", help="torch.compile the model (falls back with a warning where unsupported)."),
        ],
        False,
    ),
    "workers": (
        "train.workers",
        _option(int, "DataLoader worker processes (default: 0 on the CPU, up to 8 with a GPU)."),
        None,
    ),
    "set": (
        None,
        Annotated[
            list[str],
            typer.Option(
                "--set", help="Any config setting SECTION.KEY=VALUE (repeatable), e.g. --set optim.optimizer=sgd."
            ),
        ],
        [],
    ),
}


def with_run_options(exclude: tuple[str, ...] = ()):
    """Add ``RUN_OPTIONS`` (less ``exclude``) to a command's signature; the command receives their values
    as one ``options`` dict."""

    def decorate(command):
        base = inspect.signature(command, eval_str=True)
        own = [p for p in base.parameters.values() if p.name != "options"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, (_, annotation, default) in RUN_OPTIONS.items()
            if name not in exclude
        ]

        @wraps(command)
        def wrapper(*args, **kwargs):
            options = {name: kwargs.pop(name) for name in RUN_OPTIONS if name in kwargs}
            return command(*args, options=options, **kwargs)

        wrapper.__signature__ = base.replace(parameters=own + added)
        wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
        return wrapper

    return decorate


def build_config(options: dict[str, Any], defaults=None):
    """Parse the options into settings and let the config layer merge and validate them (on ``defaults``,
    a ``RunConfig``, when no config file is given)."""
    from lungseg.io import parse_mask_labels

    settings = dict(parse_assignment(text, "--set") for text in options.get("set") or [])
    values = {name: value for name, value in options.items() if RUN_OPTIONS[name][0] and not _unset(name, value)}
    if "mask_labels" in values:
        values["mask_labels"] = list(parse_mask_labels(values["mask_labels"]))
    settings.update({RUN_OPTIONS[name][0]: value for name, value in values.items()})
    model_kwargs = dict(parse_assignment(text, "--model-arg") for text in options.get("model_arg") or [])
    if options.get("encoder_weights") is not None:
        model_kwargs["encoder_weights"] = options["encoder_weights"]
    return merge_config(options.get("config"), settings, model_kwargs, defaults)


def _unset(name: str, value: Any) -> bool:
    """Not given: None, or an off flag whose default is off (``--allow-leaks``, ``--tensorboard``, ``--compile``)."""
    return value is None or (value is False and RUN_OPTIONS[name][2] is False)


@app.command()
@user_errors
@with_run_options()
def train(
    out: Annotated[Path, typer.Option(help="Run folder for checkpoints, history and config.")],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue OUT/last.pt with its saved config (only --epochs may change).")
    ] = False,
    *,
    options: dict,
):
    """Train a segmentation model; writes OUT/best.pt, OUT/last.pt, OUT/history.csv. Under
    `torchrun --nproc-per-node N -m lungseg train ...` it trains data-parallel (DDP)."""
    from lungseg.training import train_run

    if resume:
        result = train_run(
            None, out, resume=True, log=console().print, progress_factory=progress, epochs=options.get("epochs")
        )
    else:
        result = train_run(build_config(options), out, log=console().print, progress_factory=progress)
    if result.main_process:  # under torchrun only rank 0 reports
        console().print(
            f"done: {result.epochs_run} epochs in {result.seconds / 60:.1f} min; best epoch "
            f"{result.best_epoch} (loss {result.best_loss:.4f}) -> {out / 'best.pt'}"
        )


@app.command()
@user_errors
@with_run_options(exclude=("split",))
def cv(
    out: Annotated[Path, typer.Option(help="Folder for fold-I/ runs, cv_summary.json and ensemble.json.")],
    folds: Annotated[int, typer.Option(help="Number of folds (K).")] = 5,
    *,
    options: dict,
):
    """k-fold cross-validation (folds grouped by --group-pattern): one model per fold, scored on its
    validation fold; prints mean ± sd per metric. `--model OUT` then runs the fold models as an ensemble."""
    from lungseg.crossval import cross_validate, format_cv

    summary = cross_validate(build_config(options), out, folds, log=console().print, progress_factory=progress)
    print(format_cv(summary))
    console().print(f"wrote {out / 'cv_summary.json'}; ensemble of the fold models: --model {out}")
