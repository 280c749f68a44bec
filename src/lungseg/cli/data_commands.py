"""``lungseg data check DIR``: audit a data folder for leaks between splits and other problems.
``lungseg data fetch NAME DEST``: download a public chest X-ray lung-mask set into DEST/images + masks."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import GroupPatternOption, MaskLabelsOption, app, console, user_errors

data_app = typer.Typer(no_args_is_help=True, help="Data folder tools.")
app.add_typer(data_app, name="data")


@data_app.command("check")
@user_errors
def check(
    folder: Annotated[
        Path,
        typer.Argument(help="DIR/images+masks, DIR/<split>/images+masks, DIR/<split>/<class>/ or a folder of images."),
    ],
    out: Annotated[Path | None, typer.Option(help="JSON report (default: DIR_audit.json beside DIR).")] = None,
    split: Annotated[
        str | None,
        typer.Option(help="For DIR/images+masks: audit the split `lungseg train` would make (e.g. 70/20/10)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Split seed (as train's data.split_seed).")] = 0,
    group_pattern: GroupPatternOption = None,
    mask_labels: MaskLabelsOption = None,
):
    """Find identical and near-identical images within and across splits, unreadable files, NaN/inf
    pixels, size mismatches, empty masks (and sets whose masks are all empty), how mask values are read
    (binary, label map, soft), intensity statistics and class counts. Exit code 1 when a split leaks or
    a file or the set has a problem."""
    from lungseg.data.layout import audit_folder
    from lungseg.io import check_file_target, refuse_overwriting_inputs, write_text_atomic

    target = check_file_target(out or folder.resolve().with_name(folder.resolve().name + "_audit.json"))
    refuse_overwriting_inputs([target], [], [folder] if folder.is_dir() else [])
    report = audit_folder(folder, split, seed, group_pattern, tuple(mask_labels) if mask_labels else None)
    write_text_atomic(target, report.to_json())
    _print_report(report)
    console().print(f"wrote {target}")
    if report.leaks or report.problems or report.set_problems():
        raise typer.Exit(1)


@data_app.command("fetch")
@user_errors
def fetch(
    name: Annotated[
        str,
        typer.Argument(
            help="The set: montgomery (138 films, NLM) or shenzhen (566 films with lung masks, NLM + Stirenko et al.)."
        ),
    ],
    dest: Annotated[Path, typer.Argument(help="Folder to fill with images/ and masks/ (new or empty).")],
    archive: Annotated[
        list[Path] | None,
        typer.Option(
            help="Use this local copy of the archive instead of downloading (checksum-verified when a checksum "
            "is known); once per archive of the set, in order (shenzhen: images zip, then masks zip)."
        ),
    ] = None,
    url: Annotated[
        list[str] | None,
        typer.Option(help="Download from this URL instead (http(s):// or file://); once per archive, in order."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server before giving up.")] = 60.0,
):
    """Download a public set (resuming a partial download), verify its sha256 (the published one, else the
    one DEST/FETCH.json recorded at the first fetch), and extract the films and lung masks (0/255) into
    DEST/images and DEST/masks, the layout `lungseg train --data DEST` reads. Files already in
    DEST/images or DEST/masks are never overwritten."""
    from lungseg.data.fetch import fetch_set
    from lungseg.data.fetch_sources import data_source
    from lungseg.io import check_folder_target

    source = data_source(name)
    check_folder_target(dest)
    stderr = console()
    with _transfer_progress(stderr) as report:
        result = fetch_set(
            source,
            dest,
            archive or (),
            url or (),
            timeout,
            log=lambda line: stderr.print(line, markup=False),
            progress=report,
        )
    for note in result.notes:
        stderr.print(f"note: {note}", markup=False)
    if result.already_fetched:
        stderr.print(
            f"{dest}: already fetched ({result.images} images and {result.masks} masks); nothing to do", markup=False
        )
    else:
        stderr.print(
            f"{result.images} images and {result.masks} masks in {dest}; train with: lungseg train "
            f"--data {dest} --config recipes/xray-lung.yaml",
            markup=False,
        )


@contextmanager
def _transfer_progress(stderr):
    """A progress callback (what, done, total) drawing one bar per download or extraction."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    tasks = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    ) as bars:

        def report(what: str, done: int, total: int | None) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done, total=total)

        yield report


def _print_report(report) -> None:
    from rich.table import Table

    stderr = console()
    table = Table(
        "split",
        "images",
        "HU",
        "8-bit",
        "min",
        "max",
        "empty masks",
        "masks read as",
        "duplicates within",
        "problems",
        "classes",
    )
    for split, row in report.split_summary().items():
        classes = ", ".join(f"{name} {count}" for name, count in row["classes"].items())
        rules = ", ".join(f"{name} {count}" for name, count in row["mask_rules"].items())
        table.add_row(
            split,
            str(row["images"]),
            str(row["hu"]),
            str(row["8bit"]),
            _value(row["min"]),
            _value(row["max"]),
            str(row["empty_masks"]),
            rules,
            str(row["duplicates_within"]),
            str(row["problems"]),
            classes,
        )
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
    stderr.print(
        f"{len(report.leaks)} leak(s) across splits, {len(report.duplicates) - len(report.leaks)} "
        f"duplicate(s) within splits, {len(report.problems)} problem file(s)"
    )


def _value(value) -> str:
    return "" if value is None else f"{value:g}"
