"""``lungseg report RUN [--eval EVAL] --out DIR``: the HTML training and evaluation report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import app, console, user_errors


@app.command()
@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="Run folder of `lungseg train`.")],
    out: Annotated[Path, typer.Option(help="Folder for index.html and its figures.")],
    eval: Annotated[
        Path | None,
        typer.Option(
            "--eval", help="Folder of `lungseg evaluate` (adds per-sample histograms, examples, empty masks)."
        ),
    ] = None,
):
    """Training curves, loss histograms and (with --eval) Dice/IoU histograms, best/worst/median examples
    and the empty-mask section, as an HTML page with PNG figures."""
    from lungseg.reports import write_report

    page = write_report(run, out, eval)
    console().print(f"wrote {page}")
