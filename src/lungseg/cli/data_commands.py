"""``lungseg data check DIR``: audit a data folder for leaks between splits and other problems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lungseg.cli.common import MaskLabelsOption, app, console, user_errors

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
    mask_labels: MaskLabelsOption = None,
):
    """Find identical and near-identical images within and across splits, unreadable files, NaN/inf
    pixels, size mismatches, empty masks (and sets whose masks are all empty), how mask values are read
    (binary, label map, soft), intensity statistics and class counts. Exit code 1 when a split leaks or
    a file or the set has a problem."""
    from lungseg.data.layout import audit_folder
    from lungseg.io import check_file_target, parse_mask_labels, refuse_overwriting_inputs, write_text_atomic

    target = check_file_target(out or folder.resolve().with_name(folder.resolve().name + "_audit.json"))
    refuse_overwriting_inputs([target], [], [folder] if folder.is_dir() else [])
    report = audit_folder(folder, split, seed, group_pattern, parse_mask_labels(mask_labels))
    write_text_atomic(target, report.to_json())
    _print_report(report)
    console().print(f"wrote {target}")
    if report.leaks or report.problems or report.set_problems():
        raise typer.Exit(1)


def _print_report(report) -> None:
    from rich.table import Table

    stderr = console()
    table = Table("split", "images", "HU", "8-bit", "min", "max", "empty masks", "masks read as",
                  "duplicates within", "problems", "classes")
    for split, row in report.split_summary().items():
        classes = ", ".join(f"{name} {count}" for name, count in row["classes"].items())
        rules = ", ".join(f"{name} {count}" for name, count in row["mask_rules"].items())
        table.add_row(split, str(row["images"]), str(row["hu"]), str(row["8bit"]), _value(row["min"]),
                      _value(row["max"]), str(row["empty_masks"]), rules, str(row["duplicates_within"]),
                      str(row["problems"]), classes)
    stderr.print(table)
    for leak in report.leaks[:20]:
        stderr.print(f"leak: {leak.describe()}")
    if len(report.leaks) > 20:
        stderr.print(f"... and {len(report.leaks) - 20} more leaks (see the JSON report)")
    for record in report.problems[:20]:
        stderr.print(f"problem: {record.path}: {record.problem}")
    for problem in report.set_problems():
        stderr.print(f"problem: {problem}")
    for line in report.info:
        stderr.print(f"note: {line}")
    stderr.print(f"{len(report.leaks)} leak(s) across splits, {len(report.duplicates) - len(report.leaks)} "
                 f"duplicate(s) within splits, {len(report.problems)} problem file(s)")


def _value(value) -> str:
    return "" if value is None else f"{value:g}"
