"""The ``lungseg`` command line: parses options and calls the library. Errors in the user's input are
printed as one line (``error: <file>: <reason>``) with exit code 2, never a traceback."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Lung segmentation in chest CT and X-ray with U-Net family networks.")


DataOption = Annotated[Optional[Path], typer.Option(help="Folder with images/ and masks/.")]
ImagesOption = Annotated[Optional[Path], typer.Option(help="Images folder (with --masks).")]
MasksOption = Annotated[Optional[Path], typer.Option(help="Masks folder (with --images).")]
CheckpointOption = Annotated[str, typer.Option("--model", help="Shipped model name (ct-lung) or checkpoint path.")]
ModelOption = Annotated[str, typer.Option("--model", help="Shipped model name (e.g. ct-lung) or a checkpoint path.")]
BackendOption = Annotated[str, typer.Option(help="auto | torch | onnx (auto: ONNX Runtime when installed).")]
ThresholdOption = Annotated[float, typer.Option(help="Probability above which a pixel is foreground.")]


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _user_errors(command):
    """Turn input and configuration errors into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        from lungseg.errors import LungsegError

        try:
            return command(*args, **kwargs)
        except (LungsegError, ValueError, FloatingPointError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def _progress(description: str, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _parse_model_args(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-arg expects KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text
    return values


@app.command()
@_user_errors
def train(
    out: Annotated[Path, typer.Option(help="Run folder for checkpoints, history and config.")],
    data: DataOption = None,
    images: ImagesOption = None,
    masks: MasksOption = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML/JSON config; options given here override it.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name from the registry.")] = None,
    model_arg: Annotated[list[str], typer.Option(help="Model kwarg KEY=VALUE (repeatable).")] = [],  # noqa: B006
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Model input size (square).")] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    loss: Annotated[Optional[str], typer.Option(help="bce | dice | bce_dice | bce_iou")] = None,
    split: Annotated[Optional[str], typer.Option(help="70/20/10, 2:1 or kfold:K:I")] = None,
    group_pattern: Annotated[Optional[str], typer.Option(help="Regex naming the patient in a file stem.")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop before this wall-time budget.")] = None,
    encoder_weights: Annotated[Optional[str], typer.Option(
        help="Pretrained encoders: imagenet (library download), a local state-dict PATH, or none.")] = None,
    freeze_encoder_epochs: Annotated[Optional[int], typer.Option(
        help="Train the pretrained encoder frozen for N epochs, then at lr x encoder_lr_factor.")] = None,
    border_weights: Annotated[Optional[bool], typer.Option(
        "--border-weights/--no-border-weights", help="U-Net border weight map on the BCE term.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue OUT/last.pt with its saved config "
                                                           "(only --epochs may change).")] = False,
):
    """Train a segmentation model; writes OUT/best.pt, OUT/last.pt, OUT/history.csv."""
    from lungseg.config import RunConfig, load_config
    from lungseg.training import train_run

    if resume:
        result = train_run(None, out, resume=True, log=_console().print, progress_factory=_progress, epochs=epochs)
        _report_run(result, out)
        return
    run_config = load_config(config) if config else RunConfig()
    overrides = [
        (run_config.data, "data", data), (run_config.data, "images", images),
        (run_config.data, "masks", masks), (run_config.data, "split", split),
        (run_config.data, "group_pattern", group_pattern), (run_config.model, "name", model),
        (run_config.train, "epochs", epochs), (run_config.preprocess, "image_size", image_size),
        (run_config.train, "batch_size", batch_size), (run_config.optim, "lr", lr),
        (run_config.train, "loss", loss), (run_config.train, "seed", seed),
        (run_config.train, "max_minutes", max_minutes),
        (run_config.train, "freeze_encoder_epochs", freeze_encoder_epochs),
        (run_config.train, "border_weights", border_weights),
    ]
    for section, key, value in overrides:
        if value is not None:
            setattr(section, key, str(value) if isinstance(value, Path) else value)
    run_config.model.kwargs.update(_parse_model_args(model_arg))
    if encoder_weights is not None:
        run_config.model.kwargs["encoder_weights"] = encoder_weights
    run_config = RunConfig.from_dict(run_config.to_dict())  # validate the merged values
    _report_run(train_run(run_config, out, log=_console().print, progress_factory=_progress), out)


def _report_run(result, out: Path) -> None:
    _console().print(f"done: {result.epochs_run} epochs in {result.seconds / 60:.1f} min; best epoch "
                     f"{result.best_epoch} (loss {result.best_loss:.4f}) -> {out / 'best.pt'}")


@app.command()
@_user_errors
def evaluate(
    model: CheckpointOption,
    out: Annotated[Path, typer.Option(help="Report folder for per_sample.csv and metrics.json.")],
    data: DataOption = None,
    images: ImagesOption = None,
    masks: MasksOption = None,
    split: Annotated[Optional[str], typer.Option(help="train/val/test/all of the checkpoint's split; "
                                                      "default: test with --data, every pair otherwise.")] = None,
    threshold: ThresholdOption = 0.5,
    backend: BackendOption = "auto",
):
    """Score a checkpoint on ground-truth masks (on each image's original grid)."""
    from lungseg.inference import Predictor, evaluate_pairs, select_pairs

    predictor = Predictor.load(model, threshold=threshold, backend=backend)
    if split is None and data is not None and images is None:
        split = "test"
    pairs = select_pairs(predictor.checkpoint, data, images, masks, split)
    evaluate_pairs(predictor, pairs, out, log=_console().print)
    scope = f"the '{split}' split" if split else "every pair in the folders"
    _console().print(f"scored {len(pairs)} samples ({scope}); wrote {out / 'metrics.json'} and "
                     f"{out / 'per_sample.csv'}")


@app.command()
@_user_errors
def predict(
    input: Annotated[Path, typer.Argument(help="DICOM folder or file, NIfTI/NRRD/MHA, PNG/JPG/TIFF, or a folder "
                                                "of studies (batch mode).")],
    output: Annotated[Path, typer.Argument(help="Mask file (suffix sets the format) or a folder.")],
    model: ModelOption = "ct-lung",
    format: Annotated[str, typer.Option("--format", help="auto | nifti | nrrd | png | dicom-seg "
                                                          "(auto: nifti for volumes, png for 2D).")] = "auto",
    overlay: Annotated[bool, typer.Option("--overlay", help="Overlay PNGs (axial and coronal montages).")] = False,
    report: Annotated[bool, typer.Option("--report", help="JSON report: volumes, checks, quality.")] = False,
    threshold: ThresholdOption = 0.5,
    backend: BackendOption = "auto",
    tta: Annotated[bool, typer.Option("--tta/--no-tta", help="Flip test-time augmentation (quality score).")] = True,
    keep_largest: Annotated[bool, typer.Option("--keep-largest/--no-keep-largest")] = True,
    fill_holes: Annotated[bool, typer.Option("--fill-holes/--no-fill-holes", help="Fill holes enclosed in 3D.")] = True,
    fill_holes_2d: Annotated[bool, typer.Option("--fill-holes-2d", help="Also fill every hole per slice.")] = False,
    smooth: Annotated[int, typer.Option(help="Morphological smoothing radius in voxels (0 = off).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Slices per model batch (small batches are as fast on CPU and use less memory).")] = 4,
):
    """Segment the lungs (1 = right, 2 = left) in CT volumes or slices; outputs keep the input geometry."""
    from lungseg.inference import PostprocessOptions, Segmenter, plan_targets, run_targets

    targets, notes = plan_targets(input, output, format)
    options = PostprocessOptions(keep_largest=keep_largest, fill_holes_3d=fill_holes,
                                 fill_holes_2d=fill_holes_2d, smooth_radius=smooth)
    segmenter = Segmenter.from_pretrained(str(model), backend=backend, threshold=threshold,
                                          batch_size=batch_size, postprocess=options, tta=tta)
    console = _console()
    for note in notes:
        console.print(f"note: {note}")
    with _progress("segmenting", len(targets)) as advance:
        rows = run_targets(segmenter, targets, str(model), overlay, report, advance)
    _print_predictions(rows, targets, output)


def _print_predictions(rows: list[dict], targets, output: Path) -> None:
    from lungseg.io import write_text_atomic

    failed = [row for row in rows if row["status"] in ("refused", "error")]
    for row in failed:
        print(f"error: {row['message']}", file=sys.stderr)
    if len(rows) > 1:
        _summary_table(rows)
        write_text_atomic(output / "summary.json", json.dumps(rows, indent=2))
    for row in rows:
        if row["status"] == "flagged":
            print(f"warning: {row['study']}: {row['message'] or 'low quality score'}", file=sys.stderr)
    if len(rows) > 1 or not failed:
        _console().print(f"wrote {len(rows) - len(failed)} of {len(rows)} masks to {output}")
    if failed:
        raise typer.Exit(2 if len(failed) == len(rows) else 1)


def _summary_table(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table("study", "status", "right mL", "left mL", "quality", "s", "message")
    for row in rows:
        table.add_row(Path(row["study"]).name, row["status"], _number(row.get("right_ml")),
                      _number(row.get("left_ml")), _number(row.get("quality")), _number(row["seconds"]),
                      (row.get("message") or "")[:80])
    _console().print(table)


def _number(value) -> str:
    return "" if value is None else f"{value:g}"


@app.command()
@_user_errors
def export(
    out: Annotated[Path, typer.Argument(help="Output file, e.g. model.onnx.")],
    model: ModelOption = "ct-lung",
    format: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",
):
    """Export a model for other runtimes (ONNX, opset 17, dynamic batch; input (N, 1, S, S) in [0, 1])."""
    from lungseg.inference import export_onnx
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    if format != "onnx":
        raise ValueError(f"--format must be onnx, got {format!r}")
    checkpoint = load_checkpoint(resolve_model(str(model)))
    export_onnx(checkpoint, out)
    size = checkpoint["preprocessing"]["image_size"]
    _console().print(f"wrote {out} (input 'image' (N, 1, {size}, {size}) float32 in [0, 1] after the "
                     f"checkpoint's preprocessing plan; output 'logits'; the plan and model spec are in its metadata, "
                     f"so `lungseg predict --model {out}` runs it without the checkpoint)")


def main() -> None:
    app()
