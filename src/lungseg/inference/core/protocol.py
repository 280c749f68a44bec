"""The ``Segmenter`` protocol: what the CT (``inference.ct``), chest X-ray (``inference.xray``) and
automatic (``inference.routing``) segmenters share, so one pipeline (``inference.core.pipeline.run_study``)
runs any of them for the CLI, the Python API and the web app.

- ``choose(study)``: the segmenter that runs this study (itself, or for ``--model auto`` the CT or X-ray
  one) as a ``Choice``, with the model name and reason when it was chosen from the input;
- ``segment(image, source)``: checks, model, clean-up, measurements, quality -> ``SegmentationResult``
  (``InputError`` when the input is refused);
- ``screen(image, source)``: the same checks, quicker (the web app's upload check);
- ``replace(**changes)``: a copy sharing the loaded models with other settings (``tta``, ``postprocess``,
  ...); an option a segmenter cannot honour is named in a warning of each result it makes, never dropped
  silently;
- ``report_fields()``: what the report says about the model run (model spec, backend, threshold, TTA,
  post-processing), for the segmenter that ran the study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.study import Study


@runtime_checkable
class Segmenter(Protocol):
    @property
    def tta(self) -> bool: ...

    @property
    def lesions(self) -> tuple:  # the lesion models run inside the lungs (empty for lungs only)
        ...

    def choose(self, study: Study) -> Choice: ...

    def segment(self, image: Any, source: str | Path | None = None) -> SegmentationResult: ...

    def screen(self, image: Any, source: str | Path | None = None) -> SegmentationResult: ...

    def replace(self, **changes: Any) -> Segmenter: ...

    def report_fields(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Choice:
    """The segmenter that runs a study; ``model`` and ``reason`` when it was chosen from the input
    (``--model auto``), else None; ``sure`` False when the choice fell to a tie-break rule that can be
    wrong (the result then carries a ``routing-unsure`` warning)."""

    segmenter: Segmenter
    model: str | None = None
    reason: str | None = None
    sure: bool = True
