"""``lungseg report`` (figures and the empty-mask section) and ``lungseg cv`` (grouped folds, ensemble)."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from lungseg.data import group_of
from lungseg.errors import InputError
from lungseg.io import read_image
from lungseg.reports import write_report
from lungseg.reports.tables import read_evaluation

FIGURES = (
    "loss",
    "metrics",
    "lr",
    "batch_loss_hist",
    "dice_hist",
    "iou_hist",
    "examples_best",
    "examples_worst",
    "examples_median",
)


def test_report_has_every_figure_and_the_empty_mask_section(tmp_path, small_run, kmader_subset):
    data = tmp_path / "data"
    shutil.copytree(kmader_subset, data)
    first = sorted((data / "images").iterdir())[0]
    shutil.copy(first, data / "images" / "zz_empty.tif")  # edge case: a slice whose ground truth is empty
    Image.fromarray(np.zeros(read_image(first).shape, np.uint8)).save(data / "masks" / "zz_empty.png")
    evaluation = tmp_path / "eval"
    done = run_cli(
        "evaluate",
        "--model",
        small_run / "best.pt",
        "--images",
        data / "images",
        "--masks",
        data / "masks",
        "--out",
        evaluation,
        "--backend",
        "torch",
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((evaluation / "per_sample.csv").open()))
    assert len(rows) == 25 and all((evaluation / "predictions" / f"{row['name']}.png").is_file() for row in rows)
    done = run_cli("report", small_run, "--eval", evaluation, "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr
    for name in FIGURES:
        picture = np.asarray(Image.open(tmp_path / "report" / f"{name}.png").convert("L"))
        assert picture.shape[0] > 200 and picture.shape[1] > 300 and picture.std() > 10, name
    page = (tmp_path / "report" / "index.html").read_text()
    assert all(f'src="{name}.png"' in page for name in FIGURES)
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["n_empty_gt"] == 1
    samples = read_evaluation(evaluation).samples  # the per-sample flag survives the CSV round trip
    assert [s["name"] for s in samples if s["empty_gt"]] == ["zz_empty"]
    false_positives = metrics["n_false_positive_on_empty_gt"]
    assert f"1 of 25 ground-truth masks are empty; {false_positives} of those got a false-positive" in page
    assert "non-empty ground truth only</td><td>24<" in page


def test_report_without_evaluation_and_refusal_of_a_non_run(tmp_path, small_run):
    page = write_report(small_run, tmp_path / "report")
    assert (tmp_path / "report" / "loss.png").is_file() and not (tmp_path / "report" / "dice_hist.png").exists()
    assert "Empty masks" not in page.read_text()
    with pytest.raises(InputError, match="not a run folder"):
        write_report(tmp_path, tmp_path / "again")


def test_report_refuses_foreign_history_and_broken_metrics_naming_the_file(tmp_path, small_run):
    """A history.csv of another tool, a text column where numbers belong, and an evaluation folder whose
    metrics.json is not JSON: one line naming the file and the problem, exit code 2, no traceback."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "history.csv").write_text("step,loss,acc\n1,0.5,0.7\n")
    done = run_cli("report", run, "--out", tmp_path / "r1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "history.csv" in done.stderr and "lacks the column(s) epoch, train_loss" in done.stderr
    (run / "history.csv").write_text("epoch,train_loss\n1,0.5\n2,nan-ish\n")
    done = run_cli("report", run, "--out", tmp_path / "r2")
    assert done.returncode == 2 and "line 3: column train_loss is not a number" in done.stderr
    shutil.copy(small_run / "history.csv", run / "history.csv")
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    (evaluation / "per_sample.csv").write_text("name,dice\nx,0.9\n")
    (evaluation / "metrics.json").write_text("{'n': 1,")  # not JSON
    done = run_cli("report", run, "--eval", evaluation, "--out", tmp_path / "r3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "metrics.json" in done.stderr and "is not JSON" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r3").exists()


@pytest.mark.slow
def test_cv_grouped_folds_summary_and_ensemble(tmp_path, kmader_subset):
    out, pattern = tmp_path / "cv", r"^ID_(\d{3})"
    done = run_cli(
        "cv",
        "--folds",
        "2",
        "--data",
        kmader_subset,
        "--out",
        out,
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--model-arg",
        "base_filters=4",
        "--model-arg",
        "depth=2",
        "--group-pattern",
        pattern,
    )
    assert done.returncode == 0, done.stderr
    assert "2-fold cross-validation, 24 samples" in done.stdout and "dice " in done.stdout and "±" in done.stdout
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["folds"] == 2 and sum(summary["n_per_fold"]) == 24
    assert summary["across_folds"]["dice"]["mean"] == pytest.approx(np.mean(summary["across_folds"]["dice"]["folds"]))
    splits = [json.loads((out / f"fold-{i}" / "split.json").read_text()) for i in range(2)]
    names = sorted(p.stem for p in (kmader_subset / "images").iterdir())
    assert sorted(splits[0]["val"] + splits[1]["val"]) == names  # every slice scored exactly once
    for split in splits:
        assert not {group_of(n, pattern) for n in split["train"]} & {group_of(n, pattern) for n in split["val"]}

    from lungseg.inference import Predictor

    image = read_image(sorted((kmader_subset / "images").iterdir())[0])
    ensemble = Predictor.load(out, backend="torch")
    assert ensemble.backend.name.startswith("ensemble of 2")
    folds = [Predictor.load(out / f"fold-{i}" / "best.pt", backend="torch") for i in range(2)]
    expected = np.mean([fold.probabilities([image])[0] for fold in folds], axis=0)
    assert np.allclose(ensemble.probabilities([image])[0], expected, atol=1e-4)
    done = run_cli(
        "evaluate",
        "--model",
        out,
        "--images",
        kmader_subset / "images",
        "--masks",
        kmader_subset / "masks",
        "--out",
        tmp_path / "eval",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n"] == 24
