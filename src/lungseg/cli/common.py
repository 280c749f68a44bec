"""Shared pieces of the command line: the typer app, option types, error handling and progress bars."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import wraps
from typing import Annotated

import typer

from lungseg.cli.options import config_option
from lungseg.config import DataConfig, InferenceConfig
from lungseg.errors import LungsegError, describe

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Lung segmentation in chest CT and X-ray with U-Net family networks.",
)


# options that name a data setting, declared on DataConfig's fields; None: not given
DataOption = config_option(DataConfig, "data", optional=True)
ImagesOption = config_option(DataConfig, "images", optional=True)
MasksOption = config_option(DataConfig, "masks", optional=True)
MaskLabelsOption = config_option(DataConfig, "mask_labels", optional=True)  # a list of labels
MaskMappingOption = config_option(DataConfig, "mask_mapping", optional=True)
GroupPatternOption = config_option(DataConfig, "group_pattern", optional=True)
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help="Shipped model name (e.g. ct-lung), a checkpoint, an "
        "exported .onnx file or a `lungseg cv` folder (ensemble).",
    ),
]
# the prediction commands' shared options, declared on InferenceConfig's fields (help, choices, range)
BackendOption = config_option(InferenceConfig, "backend")
DeviceOption = config_option(InferenceConfig, "device")
PrecisionOption = config_option(InferenceConfig, "precision")
ThresholdOption = config_option(InferenceConfig, "threshold")


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
