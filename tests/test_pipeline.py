"""One study pipeline (issue 23): the ``Segmenter`` protocol of the CT, X-ray and automatic segmenters,
``run_study`` (choose -> segment -> the choice in the findings), models loaded once, options a segmenter
cannot honour named in the result, and the typed ``StudyReport`` that reads the JSON back unchanged."""

from __future__ import annotations

import json

import pytest

from conftest import shared
from lungseg.inference.batch.targets import Target
from lungseg.inference.core.pipeline import run_study
from lungseg.inference.core.postprocess import PostprocessOptions
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.protocol import Segmenter
from lungseg.inference.core.study import load_study
from lungseg.inference.outputs.files import write_outputs
from lungseg.inference.outputs.report import StudyReport
from lungseg.inference.routing.auto import AutoSegmenter
from lungseg.inference.routing.load import load_segmenter
from lungseg.inference.xray.film_segmenter import RadiographSegmenter
from lungseg.io import staged_writes

CT_SLICE = shared("ct-lung-kmader", "images", "ID_0000_Z_0142.tif")
FILM = shared("xray-lung-montgomery", "images", "1.jpg")


@pytest.fixture(scope="module")
def auto() -> AutoSegmenter:
    return AutoSegmenter(tta=False)


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The model names ``Predictor.load`` is asked for during a test."""
    names: list[str] = []
    original = Predictor.load.__func__

    def counting(cls, reference, *args, **kwargs):
        names.append(str(reference))
        return original(cls, reference, *args, **kwargs)

    monkeypatch.setattr(Predictor, "load", classmethod(counting))
    return names


def test_every_segmenter_is_a_segmenter(auto):
    assert isinstance(auto, Segmenter)
    assert isinstance(auto.ct, Segmenter) and isinstance(auto.xray, Segmenter)
    assert isinstance(auto.choose(load_study(FILM)).segmenter, RadiographSegmenter)


def test_run_study_notes_the_choice_and_the_report_header(auto):
    run = run_study(auto, load_study(CT_SLICE), "auto")
    assert run.model == "ct-lung" and run.choice.reason == "pixel values in Hounsfield units"
    assert run.result.findings[0].code == "model-chosen"
    assert list(run.fields)[:3] == ["lungseg_version", "model", "model_spec"]
    assert list(run.fields)[-2:] == ["started", "disclaimer"] and run.fields["model"] == "ct-lung"
    assert auto.segment(CT_SLICE).findings[0].code == "model-chosen"  # the Python API takes the same path


def test_a_ct_model_loads_once(loads):
    load_segmenter("ct-lung")
    assert loads == ["ct-lung", "ct-lung-8bit"]  # the model and its 8-bit variant, each once


def test_replace_on_auto_loads_nothing(loads):
    copy = AutoSegmenter().replace(tta=False, postprocess=PostprocessOptions(smooth_radius=1))
    assert loads == [] and copy.tta is False


def test_an_xray_says_which_options_it_did_not_apply(auto):
    films = auto.xray
    plain = films.segment(FILM)
    assert not any(f.code == "option-not-applied" for f in plain.findings)
    same = films.replace(postprocess=PostprocessOptions()).segment(FILM)  # the defaults: nothing to say
    assert not any(f.code == "option-not-applied" for f in same.findings)
    smoothed = films.replace(postprocess=PostprocessOptions(smooth_radius=2)).segment(FILM)
    [warning] = [f for f in smoothed.findings if f.code == "option-not-applied"]
    assert "smooth_radius=2" in warning.message and smoothed.verdict.status == "check"
    assert (smoothed.canonical_labels == plain.canonical_labels).all()
    with pytest.raises(ValueError, match="lesion models segment CT"):
        films.replace(lesions=("covid-infection",))
    routed = auto.replace(postprocess=PostprocessOptions(smooth_radius=2)).segment(FILM)  # the web form's flow
    assert any(f.code == "option-not-applied" for f in routed.findings)


def test_study_report_reads_the_json_back_unchanged(auto, tmp_path):
    for source in (CT_SLICE, FILM):
        run = run_study(auto, load_study(source), "auto")
        target = Target(source, tmp_path / f"{source.stem}.png", "png")
        with staged_writes() as stage:
            write_outputs(run.result, target, False, True, run.model, run.fields, stage)
        text = target.sibling("_report.json").read_text()
        report = StudyReport.from_dict(json.loads(text))
        assert report.to_json() == text
        assert report.measurements.to_dict() == run.result.measurements.to_dict()
        assert report.verdict == run.result.verdict and report.quality == run.result.quality


def test_a_report_from_before_verdicts_and_thresholds_reads():
    values = {
        "lungseg_version": "0.0.9",
        "model": "ct-lung",
        "tta": True,
        "disclaimer": "research use",
        "input": {"path": "x.png", "kind": "slice", "modality": None, "dicom_files": 0, "size": [4, 4]},
        "labels": {"0": "background", "1": "right lung", "2": "left lung"},
        "measurements": {"right_lung": {"voxels": 3}, "left_lung": {"voxels": 2}, "total": {"voxels": 5}},
        "findings": [],
        "quality": {"flip_agreement": 0.99, "score": 0.99, "plausible": True, "flagged": False},
        "status": "ok",
    }
    report = StudyReport.from_dict(values)
    assert report.verdict is None and report.model_run == {"tta": True} and report.quality.per_slice == ()
    assert report.measurements.total.voxels == 5
