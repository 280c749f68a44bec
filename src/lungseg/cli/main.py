"""The ``lungseg`` command line: parses options and calls the library. Errors in the user's input are
printed as one line (``error: <file>: <reason>``) with exit code 2, never a traceback."""

from __future__ import annotations

from lungseg.cli import (  # noqa: F401 (commands)
    classify_commands,
    data_commands,
    info_commands,
    nodule_commands,
    predict_commands,
    report_commands,
    train_commands,
)
from lungseg.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Run the app; a usage error (unknown option, bad value) is one line on stderr with exit code 2."""
    import sys

    import typer

    # typer vendors click; its exception classes are reached through the public BadParameter
    usage_error = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            print(exc.ctx.get_help())
            sys.exit(0)
        command = exc.ctx.command_path if exc.ctx is not None else "lungseg"
        print(f"error: {' '.join(exc.format_message().split())} (see `{command} --help`)", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
