"""The ``lungseg`` command line: parses options and calls the library. Errors in the user's input are
printed as one line (``error: <file>: <reason>``) with exit code 2, never a traceback."""

from __future__ import annotations

from lungseg.cli import data_commands, predict_commands, report_commands, train_commands  # noqa: F401 (commands)
from lungseg.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
