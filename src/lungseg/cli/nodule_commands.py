"""``lungseg nodule``: point to nodule, and ``lungseg nodule compare``: growth between two scans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import BackendOption, app, console, user_errors


@app.command()
@user_errors
def nodule(
    scan: Annotated[
        str, typer.Argument(help="CT study (DICOM folder/file, NIfTI/NRRD/MHA, PNG/TIFF slice), or `compare`.")
    ],
    new_scans: Annotated[
        list[Path] | None, typer.Argument(help="With `compare`: the OLD and the NEW study.", show_default=False)
    ] = None,
    at: Annotated[list[str] | None, typer.Option(help="Voxel indices X,Y,Z of a nodule (repeatable).")] = None,
    at_mm: Annotated[
        list[str] | None, typer.Option(help="Patient coordinates X,Y,Z in mm (DICOM LPS; repeatable).")
    ] = None,
    at_old: Annotated[str | None, typer.Option(help="compare: X,Y,Z of the nodule in OLD (voxel indices).")] = None,
    at_new: Annotated[str | None, typer.Option(help="compare: X,Y,Z of the nodule in NEW (voxel indices).")] = None,
    interval_days: Annotated[
        float | None, typer.Option(help="compare: days between the scans (else from their DICOM dates).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for labels, nodules.json and overlays.")] = None,
    model: Annotated[str, typer.Option(help="Nodule model: shipped name, checkpoint or .onnx.")] = "lung-nodule",
    lungs: Annotated[str, typer.Option(help="Lung model for the label map, or `none`.")] = "ct-lung",
    candidates: Annotated[
        bool, typer.Option(help="Also search the whole lungs for nodules (automatic candidates; needs --lungs).")
    ] = False,
    backend: BackendOption = "auto",
):
    """Segment and measure the nodule at each point (`lungseg nodule SCAN --at X,Y,Z`), or the growth of one
    nodule between two scans (`lungseg nodule compare OLD NEW --at-old X,Y,Z --at-new X,Y,Z`)."""
    from lungseg.inference.nodules import NoduleSegmenter
    from lungseg.inference.nodules.report import growth_report, summary_lines, write_nodule_outputs
    from lungseg.inference.nodules.study import parse_point, segment_nodules
    from lungseg.inference.routing.load import load_segmenter

    segmenter = NoduleSegmenter.load(model, backend=backend)
    if scan == "compare":
        from lungseg.inference.nodules.compare import compare_scans

        if not new_scans or len(new_scans) != 2 or not at_old or not at_new:
            raise ValueError("compare: give OLD and NEW studies and --at-old and --at-new")
        old, new, change = compare_scans(
            new_scans[0],
            new_scans[1],
            parse_point(at_old, "--at-old"),
            parse_point(at_new, "--at-new"),
            segmenter,
            interval_days,
        )
        report = growth_report(old, new, change)
        if out:
            from lungseg.io.atomic import write_text_atomic

            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "growth.json", json.dumps(report, indent=1) + "\n")
        g = report["growth"]
        vdt = g["volume_doubling_time_days"]
        print(
            f"volume {g['old_volume_mm3']} -> {g['new_volume_mm3']} mm³ ({g['change_percent']:+.1f} %), {g['trend']}; "
            f"interval {g['interval_days']} days ({g['interval_source']}); "
            f"doubling time {'-' if vdt is None else f'{vdt:.0f} days'}"
        )
        return
    if new_scans:
        raise ValueError(f"one study at a time (got also {', '.join(map(str, new_scans))}); or `compare` OLD NEW")
    points = [(parse_point(p, "--at"), False) for p in at or []] + [
        (parse_point(p, "--at-mm"), True) for p in at_mm or []
    ]
    if not points and not candidates:
        raise ValueError("give at least one point (--at X,Y,Z or --at-mm X,Y,Z) or --candidates")
    if len({mm for _, mm in points}) > 1:  # one conversion rule per run
        raise ValueError("give points either as --at or as --at-mm, not both")
    result = segment_nodules(
        Path(scan),
        [p for p, _ in points],
        bool(points) and points[0][1],
        segmenter,
        None if lungs == "none" else load_segmenter(lungs, backend=backend),
        candidates,
    )
    for line in summary_lines(result):
        print(line)
    if out:
        written = write_nodule_outputs(result, out, model)
        console().print(f"wrote {', '.join(str(p) for p in written)}")
