"""``lungseg classify evaluate``'s output folder: numbers, figures and an HTML page.

``metrics.json`` (accuracy, balanced accuracy, per-class precision/recall/F1, macro-F1, confusion,
calibration), ``predictions.csv`` (one row per distinct slice: truth, prediction, calibrated
probabilities), ``confusion.png``, ``reliability.png`` (before and after temperature scaling) and
``index.html`` with the best and worst examples beside their Grad-CAM heat maps.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from lungseg.io import check_folder_target, write_png, write_text_atomic
from lungseg.preprocessing.display import heat_overlay
from lungseg.reports.classification_figures import confusion_matrix_png, reliability_png
from lungseg.reports.page import _HEAD, _figures_html, _fmt
from lungseg.screening import DISCLAIMER
from lungseg.training.records import csv_text

TRAINING_NOTE = (
    "Trained on a small public set of CT slice exports without patient identifiers; see the model "
    "card for its cross-validated accuracy."
)


def write_classification_report(evaluation, out: str | Path) -> Path:
    """Write the folder (see the module docstring) for a ``ClassEvaluation``; returns ``index.html``."""
    out = check_folder_target(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = evaluation.summary()
    write_text_atomic(out / "metrics.json", json.dumps(summary, indent=1))
    header = ["name", "truth", "predicted", "confidence", *[f"p_{name}" for name in evaluation.class_names]]
    write_text_atomic(out / "predictions.csv", csv_text(header, evaluation.prediction_rows()))
    calibration = evaluation.calibration
    images = [
        confusion_matrix_png(out / "confusion.png", np.array(summary["confusion"]), evaluation.class_names),
        reliability_png(
            out / "reliability.png",
            evaluation.bins_before,
            evaluation.bins_after,
            calibration["ece_uncalibrated"],
            calibration["ece_calibrated"],
        ),
    ]
    sections = [
        f"<h1>Classifier evaluation: {html.escape(str(evaluation.source))}</h1>",
        f"<p><b>{html.escape(DISCLAIMER)} {html.escape(TRAINING_NOTE)}</b></p>",
        f"<p>{len(evaluation.names)} distinct slices (copies of one slice count once).</p>",
        _scores_table(summary),
        _calibration_text(calibration),
        _figures_html(images, out),
    ]
    for kind, examples in evaluation.examples.items():
        if examples:
            sections.append(f"<h2>{kind.capitalize()} examples</h2>" + _examples_html(kind, examples, out))
    page = out / "index.html"
    write_text_atomic(page, _HEAD + "\n".join(sections) + "</body></html>\n")
    return page


def _scores_table(summary: dict) -> str:
    rows = "".join(
        f"<tr><td style='text-align:left'>{html.escape(name)}</td><td>{_fmt(s['precision'])}</td>"
        f"<td>{_fmt(s['recall'])}</td><td>{_fmt(s['f1'])}</td><td>{s['support']}</td></tr>"
        for name, s in summary["per_class"].items()
    )
    return (
        f"<h2>Scores</h2><p>accuracy {_fmt(summary['accuracy'])}, balanced accuracy "
        f"{_fmt(summary['balanced_accuracy'])}, macro-F1 {_fmt(summary['macro_f1'])}</p>"
        f"<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>slices</th></tr>{rows}</table>"
    )


def _calibration_text(calibration: dict) -> str:
    return (
        f"<h2>Calibration</h2><p>Temperature {calibration['temperature']:.3f} (fitted on the validation split "
        f"at training time). Expected calibration error {_fmt(calibration['ece_uncalibrated'])} without it, "
        f"{_fmt(calibration['ece_calibrated'])} with it; negative log-likelihood "
        f"{_fmt(calibration['nll_uncalibrated'])} -> {_fmt(calibration['nll_calibrated'])}.</p>"
    )


def _examples_html(kind: str, examples: list, out: Path) -> str:
    cells = []
    for index, example in enumerate(examples):
        path = out / f"{kind}_{index + 1}.png"
        picture = np.asarray(example.picture, np.uint8)
        write_png(
            path,
            np.concatenate([np.repeat(picture[..., None], 3, axis=-1), heat_overlay(picture, example.heat)], axis=1),
        )
        caption = (
            f"{example.name}: true {example.truth}, predicted {example.predicted} "
            f"({example.confidence:.2f}); p(true) {example.truth_probability:.2f}"
        )
        cells.append(
            f'<figure><img src="{path.name}" alt="{html.escape(path.stem)}" style="max-width:560px">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return "<p>Picture | Grad-CAM of the predicted class.</p>" + "".join(cells)
