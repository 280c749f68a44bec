"""Exceptions shared by every layer: a user-facing error names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class LungsegError(Exception):
    """Base class for errors shown to the user as one line, without a traceback."""


class InputError(LungsegError, ValueError):
    """Input that cannot be used: unreadable, the wrong kind, or inconsistent with other input.

    ``str(error)`` is ``"<path>: <reason>"`` so the CLI can print it as one line.
    """

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)


def describe(exc: BaseException, limit: int = 160) -> str:
    """One short line for an exception from a library: its first non-empty line, else its type name."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


class TrainingDiverged(LungsegError):
    """The training loss or gradients became NaN or infinite; the run stops, its checkpoints intact."""
