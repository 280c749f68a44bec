"""Shared pieces of the command line: the typer app, option types, error handling and progress bars."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer

from lungseg.errors import LungsegError, describe

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Lung segmentation in chest CT and X-ray with U-Net family networks.",
)


DataOption = Annotated[Path | None, typer.Option(help="Folder with images/ and masks/.")]
ImagesOption = Annotated[Path | None, typer.Option(help="Images folder (with --masks).")]
MasksOption = Annotated[Path | None, typer.Option(help="Masks folder (with --images).")]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help="Shipped model name (e.g. ct-lung), a checkpoint, an "
        "exported .onnx file or a `lungseg cv` folder (ensemble).",
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        help="auto | torch | onnx (auto: PyTorch on a CUDA GPU when one is present, else ONNX Runtime when installed)."
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option(help="auto | cpu | cuda | cuda:N | mps for the PyTorch backend (auto: CUDA when PyTorch sees a GPU)."),
]
PrecisionOption = Annotated[
    str,
    typer.Option(help="auto | fp32 | bf16 | fp16 for the PyTorch backend (auto: bf16 on a CUDA GPU, fp32 elsewhere)."),
]
ThresholdOption = Annotated[float, typer.Option(help="Probability above which a pixel is foreground, in (0, 1).")]
MaskLabelsOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated mask values that count as foreground (e.g. 1,2); default: the mask rule in the "
        "README (non-zero for binary and label masks, half the value range for soft masks)."
    ),
]


def console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def user_errors(command):
    """Turn every error into one line on stderr (``error: PATH: reason``) and exit code 2: input and
    configuration errors, file-system errors (named by their path), lack of memory, and anything
    unexpected (with a request to report it; ``LUNGSEG_DEBUG=1`` shows the traceback instead)."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except (LungsegError, ValueError) as exc:
            message = str(exc)
        except OSError as exc:
            where = exc.filename if exc.filename is not None else "file system"
            message = f"{where}: {exc.strerror or describe(exc)}"
        except MemoryError:
            message = "not enough memory for this input"
        except Exception as exc:
            if os.environ.get("LUNGSEG_DEBUG"):
                raise
            message = (
                f"internal error ({type(exc).__name__}: {describe(exc)}); please report it "
                "(LUNGSEG_DEBUG=1 shows the traceback)"
            )
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        raise typer.Exit(2)

    return wrapper


@contextmanager
def progress(description: str, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stderr = console()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)
