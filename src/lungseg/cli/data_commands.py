"""``lungseg data check DIR``: audit a data folder for leaks between splits and other problems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lungseg.cli.common import app, console, user_errors

data_app = typer.Typer(no_args_is_help=True, help="Data folder tools.")
app.add_typer(data_app, name="data")


@data_app.command("check")
@user_errors
def check(
    folder: Annotated[Path, typer.Argument(help="DIR/images+masks, DIR/<split>/images+masks, "
                                                "DIR/<split>/<class>/ or a folder of images.")],
    out: Annotated[Optional[Path], typer.Option(help="JSON report (default: DIR_audit.json beside DIR).")] = None,
    split: Annotated[Optional[str], typer.Option(help="For DIR/images+masks: audit the split `lungseg train` "
                                                      "would make (e.g. 70/20/10).")] = None,
    seed: Annotated[int, typer.Option(help="Split seed (as train's data.split_seed).")] = 0,
    group_pattern: Annotated[Optional[str], typer.Option(help="Regex naming the patient in a file stem.")] = None,
):
    """Find identical and near-identical images within and across splits, unreadable files, size
    mismatches, empty masks, intensity statistics and class counts. Exit code 1 when a split leaks or a
    file has a problem."""
    from lungseg.data.layout import audit_folder
    from lungseg.io import write_text_atomic

    report = audit_folder(folder, split, seed, group_pattern)
    target = out or folder.resolve().with_name(folder.resolve().name + "_audit.json")
    write_text_atomic(target, report.to_json())
    _print_report(report)
    console().print(f"wrote {target}")
    if report.leaks or report.problems:
        raise typer.Exit(1)


def _print_report(report) -> None:
    from rich.table import Table

    stderr = console()
    table = Table("split", "images", "HU", "8-bit", "min", "max", "empty masks", "duplicates within",
                  "problems", "classes")
    for split, row in report.split_summary().items():
        classes = ", ".join(f"{name} {count}" for name, count in row["classes"].items())
        table.add_row(split, str(row["images"]), str(row["hu"]), str(row["8bit"]), _value(row["min"]),
                      _value(row["max"]), str(row["empty_masks"]), str(row["duplicates_within"]),
                      str(row["problems"]), classes)
    stderr.print(table)
    for leak in report.leaks[:20]:
        stderr.print(f"leak: {leak.describe()}")
    if len(report.leaks) > 20:
        stderr.print(f"... and {len(report.leaks) - 20} more leaks (see the JSON report)")
    for record in report.problems[:20]:
        stderr.print(f"problem: {record.path}: {record.problem}")
    stderr.print(f"{len(report.leaks)} leak(s) across splits, {len(report.duplicates) - len(report.leaks)} "
                 f"duplicate(s) within splits, {len(report.problems)} problem file(s)")


def _value(value) -> str:
    return "" if value is None else f"{value:g}"
