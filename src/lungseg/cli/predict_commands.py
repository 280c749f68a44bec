"""``lungseg evaluate``, ``predict`` and ``export``: options -> the inference library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import (
    BackendOption,
    DataOption,
    DeviceOption,
    ImagesOption,
    MaskLabelsOption,
    MaskMappingOption,
    MasksOption,
    ModelOption,
    PrecisionOption,
    ThresholdOption,
    app,
    console,
    progress,
    user_errors,
)


@app.command()
@user_errors
def evaluate(
    model: ModelOption,
    out: Annotated[Path, typer.Option(help="Report folder for per_sample.csv and metrics.json.")],
    data: DataOption = None,
    images: ImagesOption = None,
    masks: MasksOption = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="train/val/test/all of the checkpoint's split; default: test with --data, every pair otherwise."
        ),
    ] = None,
    threshold: ThresholdOption = 0.5,
    backend: BackendOption = "auto",
    mask_labels: MaskLabelsOption = None,
    mask_mapping: MaskMappingOption = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
):
    """Score a checkpoint on ground-truth masks (on each image's original grid; per class for a K-class model)."""
    from lungseg.inference import Predictor, evaluate_pairs, select_pairs
    from lungseg.inference.evaluate.pairs import default_split

    labels = tuple(mask_labels) if mask_labels else None  # --mask-labels is parsed to a list
    predictor = Predictor.load(model, threshold=threshold, backend=backend, device=device, precision=precision)
    split = default_split(predictor.card, data, images, split)
    pairs = select_pairs(predictor.card, data, images, masks, split)
    evaluate_pairs(predictor, pairs, out, log=console().print, mask_labels=labels, mask_mapping=mask_mapping)
    scope = f"the '{split}' split" if split else "every pair in the folders"
    console().print(f"scored {len(pairs)} samples ({scope}); wrote {out / 'metrics.json'} and {out / 'per_sample.csv'}")


@app.command()
@user_errors
def predict(
    input: Annotated[
        Path,
        typer.Argument(help="DICOM folder or file, NIfTI/NRRD/MHA, PNG/JPG/TIFF, or a folder of studies (batch mode)."),
    ],
    output: Annotated[Path, typer.Argument(help="Mask file (suffix sets the format) or a folder.")],
    model: Annotated[
        str,
        typer.Option(
            help="auto (CT -> ct-lung, chest X-ray -> xray-lung, said per input), a "
            "shipped model name, a checkpoint, an exported .onnx or a cv folder."
        ),
    ] = "auto",
    format: Annotated[
        str,
        typer.Option("--format", help="auto | nifti | nrrd | png | dicom-seg (auto: nifti for volumes, png for 2D)."),
    ] = "auto",
    overlay: Annotated[bool, typer.Option("--overlay", help="Overlay PNGs (axial and coronal montages).")] = False,
    report: Annotated[bool, typer.Option("--report", help="JSON report: volumes, checks, quality.")] = False,
    threshold: ThresholdOption = 0.5,
    backend: BackendOption = "auto",
    tta: Annotated[bool, typer.Option("--tta/--no-tta", help="Flip test-time augmentation (quality score).")] = True,
    keep_largest: Annotated[bool, typer.Option("--keep-largest/--no-keep-largest")] = True,
    fill_holes: Annotated[bool, typer.Option("--fill-holes/--no-fill-holes", help="Fill holes enclosed in 3D.")] = True,
    fill_holes_2d: Annotated[bool, typer.Option("--fill-holes-2d", help="Also fill every hole per slice.")] = False,
    smooth: Annotated[int, typer.Option(min=0, max=20, help="Morphological smoothing radius in voxels (0 = off).")] = 0,
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=4096, help="Slices per model batch (default 4 on the CPU, 64 on a GPU).")
    ] = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "auto",
    lesions: Annotated[
        str | None,
        typer.Option(
            help="Lesion models to run inside the lungs, comma-separated "
            "(e.g. covid-infection,lung-nodule): one label map, "
            "burden per lung in the report."
        ),
    ] = None,
):
    """Segment the lungs (1 = right, 2 = left, patient sides) in CT volumes or slices and in frontal chest
    X-rays (the model is chosen from the input unless --model names one), and with a lesion model
    (--model covid-infection, or --lesions) the lesions inside CT lungs (3 infection, 4 ground-glass
    opacity, 5 consolidation, 6 tumour); outputs keep the input geometry."""
    from lungseg.inference import PostprocessOptions, plan_targets, run_targets
    from lungseg.inference.batch.runner import finish_batch
    from lungseg.inference.routing.load import load_segmenter

    targets, notes = plan_targets(input, output, format, overlay, report)
    options = PostprocessOptions(
        keep_largest=keep_largest, fill_holes_3d=fill_holes, fill_holes_2d=fill_holes_2d, smooth_radius=smooth
    )
    lesion_names = [name.strip() for name in (lesions or "").split(",") if name.strip()]
    segmenter = load_segmenter(
        str(model),
        backend=backend,
        threshold=threshold,
        batch_size=batch_size,
        postprocess=options,
        tta=tta,
        lesions=lesion_names,
        device=device,
        precision=precision,
    )
    stderr = console()
    for note in notes:
        stderr.print(f"note: {note}")
    with progress("segmenting", len(targets)) as advance:
        rows = run_targets(segmenter, targets, str(model), overlay, report, advance)
    code = finish_batch(rows, targets, output)
    _print_predictions(rows, output)
    if code:
        raise typer.Exit(code)


def _print_predictions(rows: list[dict], output: Path) -> None:
    from lungseg.inference.batch.runner import FAILED

    failed = [row for row in rows if row["status"] in FAILED]
    for row in failed:
        print(f"error: {row['message']}", file=sys.stderr)
    if len(rows) > 1:
        _summary_table(rows)
    for row in rows:
        if row.get("model_reason"):
            console().print(f"{Path(row['study']).name}: model {row['model']} ({row['model_reason']})")
        if row.get("right_cm2") is not None:
            console().print(
                f"{Path(row['study']).name}: right lung {row['right_cm2']:g} cm2, left lung {row['left_cm2']:g} cm2"
            )
        if row.get("lesion_summary") is not None:
            console().print(f"{Path(row['study']).name}: {row['lesion_summary'] or 'no lesion found'}")
        if row.get("verdict_line") and row["status"] not in FAILED:
            console().print(f"{Path(row['study']).name}: {row['verdict_line']}", markup=False)
        if row["status"] == "flagged":
            print(f"warning: {row['study']}: {row['message'] or 'low quality score'}", file=sys.stderr)
    if len(rows) > 1 or not failed:
        console().print(f"wrote {len(rows) - len(failed)} of {len(rows)} masks to {output}")


def _summary_table(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table("study", "status", "verdict", "right mL", "left mL", "quality", "s", "message")
    for row in rows:
        table.add_row(
            Path(row["study"]).name,
            row["status"],
            row.get("verdict", ""),
            _number(row.get("right_ml")),
            _number(row.get("left_ml")),
            _number(row.get("quality")),
            _number(row["seconds"]),
            (row.get("message") or "")[:80],
        )
    console().print(table)


def _number(value) -> str:
    return "" if value is None else f"{value:g}"


@app.command()
@user_errors
def export(
    out: Annotated[Path, typer.Argument(help="Output file, e.g. model.onnx.")],
    model: ModelOption = "ct-lung",
    format: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",
):
    """Export a model for other runtimes (ONNX, opset 17, dynamic batch; input (N, 1, S, S) in [0, 1])."""
    from lungseg.inference import export_onnx
    from lungseg.io import check_file_target, refuse_overwriting_inputs
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    if format != "onnx":
        raise ValueError(f"--format must be onnx, got {format!r}")
    source = resolve_model(str(model))
    check_file_target(out)
    refuse_overwriting_inputs([out], [source])
    checkpoint = load_checkpoint(source)
    export_onnx(checkpoint, out, source)
    size = checkpoint.card.plan.image_size
    console().print(
        f"wrote {out} (input 'image' (N, 1, {size}, {size}) float32 in [0, 1] after the "
        f"checkpoint's preprocessing plan; output 'logits'; the plan and model spec are in its metadata, "
        f"so `lungseg predict --model {out}` runs it without the checkpoint)"
    )
