"""``lungseg classify train | evaluate | predict``: options -> the classifier library.

``train`` takes the run options of classification (``cli.options.run_options``: the config fields declared
with ``cli`` for classification, such as ``--label-smoothing`` and ``--class-balance``, plus ``--config``,
``--model-arg``, ``--pretrained`` and ``--set SECTION.KEY=VALUE``) on the classifier defaults
(``config.classifier_defaults``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import DeviceOption, app, console, progress, user_errors
from lungseg.cli.options import build_config, with_run_options
from lungseg.config import classifier_defaults
from lungseg.errors import InputError
from lungseg.screening import DISCLAIMER

classify_app = typer.Typer(no_args_is_help=True, help="Classify chest CT slice pictures by cancer type.")
app.add_typer(classify_app, name="classify")

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm")


@classify_app.command("train")
@user_errors
@with_run_options("classification")
def train(
    out: Annotated[Path, typer.Option(help="Run folder for checkpoints, history, audit and calibration.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue OUT/last.pt with its saved config.")] = False,
    *,
    options: dict,
):
    """Train an image classifier on DIR/<class>/* or DIR/<split>/<class>/* (split folders are pooled and
    re-split with copies of one slice kept together); writes OUT/best.pt with its temperature."""
    from lungseg.training.classify_run import train_classifier

    if resume:
        result = train_classifier(
            None, out, resume=True, log=console().print, progress_factory=progress, epochs=options.get("epochs")
        )
    else:
        config = build_config(options, defaults=classifier_defaults())
        result = train_classifier(config, out, log=console().print, progress_factory=progress)
    console().print(
        f"done: {result.epochs_run} epochs in {result.seconds / 60:.1f} min; best epoch "
        f"{result.best_epoch} (loss {result.best_loss:.4f}) -> {out / 'best.pt'}"
    )


@classify_app.command("evaluate")
@user_errors
def evaluate(
    model: Annotated[str, typer.Option("--model", help="Classifier checkpoint (RUN/best.pt) or shipped name.")],
    data: Annotated[Path, typer.Option(help="Class-folder set (DIR/<class>/* or DIR/<split>/<class>/*).")],
    out: Annotated[Path, typer.Option(help="Report folder (index.html, metrics.json, figures).")],
    split: Annotated[
        str | None,
        typer.Option(
            help="test/val/train of the model's own split of DIR, or all; "
            "default: test for the set the model was trained on, all "
            "for any other (a held-out set)."
        ),
    ] = None,
    examples: Annotated[int, typer.Option(help="Best and worst examples shown with heat maps.")] = 3,
    device: DeviceOption = "auto",
):
    """Score a classifier: accuracy, balanced accuracy, per-class precision/recall/F1, macro-F1, confusion
    matrix, calibration (ECE, reliability diagram) and best/worst examples with Grad-CAM, one picture per
    distinct slice."""
    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.inference.classify.evaluation import evaluate_classifier
    from lungseg.reports.classification_report import write_classification_report

    classifier = ImageClassifier.load(model, check_inputs=False, device=device)
    evaluation = evaluate_classifier(
        classifier, data, split, examples, log=lambda line: console().print(line, markup=False)
    )  # "[test]" is text
    page = write_classification_report(evaluation, out)
    scores = evaluation.scores
    console().print(
        f"accuracy {scores.accuracy:.4f}, balanced accuracy {scores.balanced_accuracy:.4f}, macro-F1 "
        f"{scores.macro_f1:.4f}, ECE {evaluation.calibration['ece_uncalibrated']:.4f} -> "
        f"{evaluation.calibration['ece_calibrated']:.4f} (calibrated); wrote {page}"
    )


@classify_app.command("predict")
@user_errors
def predict(
    input: Annotated[Path, typer.Argument(help="A CT slice picture (PNG/JPG) or a folder of them.")],
    model: Annotated[
        str, typer.Option("--model", help="Shipped model name or classifier checkpoint.")
    ] = "ct-cancer-type",
    out: Annotated[Path | None, typer.Option(help="Folder for predictions.json (and heat maps with --cam).")] = None,
    cam: Annotated[
        bool, typer.Option("--cam", help="Write a Grad-CAM heat map PNG per picture (needs --out).")
    ] = False,
    device: DeviceOption = "auto",
):
    """Class probabilities (calibrated), the predicted class and its confidence per picture; pictures that
    do not look like chest CT slices are flagged. Prints one line per picture."""
    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.io import check_folder_target, write_text_atomic

    if cam and out is None:
        raise ValueError("--cam writes heat map PNGs: give --out FOLDER")
    files = _pictures(input)
    if out is not None:
        out = check_folder_target(out)
    classifier = ImageClassifier.load(model, device=device)
    print(
        classifier.new_scans.note()
        if classifier.new_scans
        else f"{model}: not measured on unseen scans (no scan-disjoint cross-validation); its confidence holds for "
        "scans like the training set's"
    )
    results = []
    for path in files:
        read = classifier.read(path)
        prediction = classifier.apply(read, source=str(path))
        results.append(prediction.to_dict())
        flag = (
            "  [FLAGGED: " + "; ".join(f.message for f in prediction.findings if f.level == "warn") + "]"
            if prediction.flagged and not prediction.refused
            else ""
        )
        print(f"{path}: {prediction.line()}{flag}")
        if cam:
            results[-1]["heat_map"] = _write_cam(classifier, read.gray, prediction.predicted, path, out, len(results))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        written = {
            "model": str(model),
            "disclaimer": DISCLAIMER,
            "new_scans": vars(classifier.new_scans) if classifier.new_scans else None,
            "predictions": results,
        }
        write_text_atomic(out / "predictions.json", json.dumps(written, indent=1))
        console().print(f"wrote {out / 'predictions.json'}")
    if not files:
        raise InputError(input, "no pictures found")


def _pictures(input: Path) -> list[Path]:
    if input.is_dir() and not any(input.glob("*.dcm")):
        files = sorted(
            p
            for p in input.rglob("*")
            if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES and not p.name.startswith(".")
        )
        if not files:
            raise InputError(input, f"holds no pictures ({', '.join(PICTURE_SUFFIXES)})")
        return files
    return [input]


def _write_cam(classifier, picture, predicted: str, path: Path, out: Path, index: int) -> str:
    import numpy as np

    from lungseg.io import write_png
    from lungseg.preprocessing.display import heat_overlay

    target = out / f"{index:04d}_{path.stem}_cam.png"
    write_png(target, heat_overlay(np.asarray(picture, np.uint8), classifier.heat_map(picture, predicted)))
    return target.name
