"""One study through one segmenter, written once: choose -> segment -> note the choice, with the report's
header. ``lungseg predict`` (``inference.batch.runner``), the Python API (``AutoSegmenter.segment``) and
the web worker (``web.results.run_analysis``) all call ``run_study``."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungseg import __version__
from lungseg import findings as catalogue
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.protocol import Choice, Segmenter
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.study import Study, as_study
from lungseg.screening import DISCLAIMER


@dataclass(frozen=True)
class StudyRun:
    """A segmented study: the ``result``, the ``choice`` that made it, the ``model`` name to report and
    the report's header ``fields`` (version, model, model spec, backend, ..., ``started``, disclaimer)."""

    result: SegmentationResult
    choice: Choice
    model: str
    fields: dict[str, Any]


def run_study(
    segmenter: Segmenter,
    image: Any,
    model_name: str | None = None,
    *,
    source: str | Path | None = None,
    started: float | None = None,
    on_choice: Callable[[Choice, str], None] | None = None,
    slot: Callable[[], AbstractContextManager[Any]] | None = None,
) -> StudyRun:
    """Choose the segmenter for ``image`` (a ``Study``, a path, an image or an array), segment it and put
    the choice in its findings. ``model_name``: the name to report when the segmenter was not chosen from
    the input; ``on_choice(choice, model)``: called before the segmentation (progress); ``slot``: a
    context the segmentation runs in (the web app's one-job-per-GPU semaphore)."""
    start = time.perf_counter() if started is None else started
    study: Study = as_study(image, source)
    choice = segmenter.choose(study)
    model = choice.model or model_name or "model"
    if on_choice is not None:
        on_choice(choice, model)
    with (slot or nullcontext)():
        result = with_choice(choice.segmenter.segment(study), choice)
    return StudyRun(result, choice, model, report_header(choice.segmenter, model, start))


def with_choice(result: SegmentationResult, choice: Choice) -> SegmentationResult:
    """The result with an info finding saying which model was chosen and why (when it was chosen), and a
    ``routing-unsure`` warning when a tie-break rule chose it."""
    if choice.model is not None:
        result.findings.insert(0, catalogue.MODEL_CHOSEN(model=choice.model, why=choice.reason))
        if not choice.sure:
            result.findings.insert(1, catalogue.ROUTING_UNSURE(model=choice.model))
    return result


def report_header(segmenter: Segmenter, model_name: str, start: float) -> dict[str, Any]:
    """The report's first fields, in their order: version, model, the segmenter's fields, start time
    (dropped from the report, which gives the seconds since) and the disclaimer."""
    return {
        "lungseg_version": __version__,
        "model": model_name,
        **segmenter.report_fields(),
        "started": start,
        "disclaimer": DISCLAIMER,
    }


def model_fields(predictor: Predictor, tta: bool, postprocess: dict[str, Any]) -> dict[str, Any]:
    """``report_fields`` of a segmenter with one lung model: spec, backend, threshold, TTA, clean-up."""
    return {
        "model_spec": predictor.card.spec.to_dict(),
        "backend": predictor.backend.name,
        "runs_on": predictor.runs_on,
        "threshold": predictor.threshold,
        "tta": tta,
        "postprocess": postprocess,
    }
