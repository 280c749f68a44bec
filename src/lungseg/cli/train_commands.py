"""``lungseg train`` and ``lungseg cv``: options -> ``RunConfig`` -> the training library.

Both commands take the run options of segmentation (``cli.options.run_options``): one option per config field
declared with ``cli`` (name, help, choices and range come from the field), plus ``--config``, ``--model-arg``,
``--encoder-weights`` and ``--set SECTION.KEY=VALUE`` for any other setting. The config layer merges and
validates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import app, console, progress, user_errors
from lungseg.cli.options import build_config, run_options, with_run_options

RUN_OPTIONS = run_options("segmentation")  # option -> (config setting it sets, annotation, value when not given)
__all__ = ["RUN_OPTIONS", "build_config", "cv", "train"]


@app.command()
@user_errors
@with_run_options("segmentation")
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
@with_run_options("segmentation", exclude=("split",))
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
