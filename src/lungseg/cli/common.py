"""Shared pieces of the command line: the typer app, option types, error handling and progress bars."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Lung segmentation in chest CT and X-ray with U-Net family networks.")


DataOption = Annotated[Optional[Path], typer.Option(help="Folder with images/ and masks/.")]
ImagesOption = Annotated[Optional[Path], typer.Option(help="Images folder (with --masks).")]
MasksOption = Annotated[Optional[Path], typer.Option(help="Masks folder (with --images).")]
ModelOption = Annotated[str, typer.Option("--model", help="Shipped model name (e.g. ct-lung), a checkpoint, an "
                                                         "exported .onnx file or a `lungseg cv` folder (ensemble).")]
BackendOption = Annotated[str, typer.Option(help="auto | torch | onnx (auto: ONNX Runtime when installed).")]
ThresholdOption = Annotated[float, typer.Option(help="Probability above which a pixel is foreground.")]


def console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def user_errors(command):
    """Turn input and configuration errors into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        from lungseg.errors import LungsegError

        try:
            return command(*args, **kwargs)
        except (LungsegError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def progress(description: str, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stderr = console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True, disable=not stderr.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)
