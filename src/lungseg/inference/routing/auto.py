"""``AutoSegmenter`` (``--model auto``): CT or chest X-ray lung segmentation, chosen per study by the
rule of ``routing.route``. The shipped ``ct-lung`` and ``xray-lung`` load once, when first needed, and
every copy made by ``replace`` shares them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lungseg.errors import InputError
from lungseg.inference.core.pipeline import run_study
from lungseg.inference.core.protocol import Choice
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.study import Study, as_study
from lungseg.inference.ct.segmenter import CTSegmenter
from lungseg.inference.routing.route import CT_MODEL, XRAY_MODEL, route
from lungseg.inference.xray.film_segmenter import RadiographSegmenter

XRAY_SETTINGS = ("backend", "threshold", "batch_size", "tta", "device", "precision")
CT_SETTINGS = ("backend", "threshold", "batch_size", "lesions", "device", "precision")


class _Models:
    """The two segmenters as loaded with the first settings, shared by an ``AutoSegmenter`` and its copies."""

    def __init__(self, ct: CTSegmenter | None, xray: RadiographSegmenter | None, settings: dict[str, Any]):
        self._ct, self._xray, self.settings = ct, xray, settings

    def ct(self) -> CTSegmenter:
        if self._ct is None:
            self._ct = CTSegmenter.from_pretrained(CT_MODEL, **ct_settings(self.settings))
        return self._ct

    def xray(self) -> RadiographSegmenter:
        if self._xray is None:
            films = RadiographSegmenter.from_pretrained(
                XRAY_MODEL, **{key: self.settings[key] for key in XRAY_SETTINGS if key in self.settings}
            )
            postprocess = self.settings.get("postprocess")  # CT options: named in its results if not the defaults
            self._xray = films.replace(postprocess=postprocess) if postprocess is not None else films
        return self._xray


class AutoSegmenter:
    """CT or X-ray lung segmentation, chosen per input (``route``); the models load when first needed.
    ``ct``/``xray``: ready segmenters, or None to load the shipped ``ct-lung``/``xray-lung`` with
    ``settings`` (backend, threshold, batch_size, tta, postprocess, lesions, device, precision)."""

    def __init__(self, ct: CTSegmenter | None = None, xray: RadiographSegmenter | None = None, **settings: Any):
        self.settings = settings
        self._models = _Models(ct, xray, settings)
        self._changes: dict[str, Any] = {}

    @property
    def ct(self) -> CTSegmenter:
        base = self._models.ct()
        return base.replace(**self._changes) if self._changes else base

    @property
    def xray(self) -> RadiographSegmenter:
        base = self._models.xray()
        return base.replace(**self._changes) if self._changes else base

    @property
    def tta(self) -> bool:
        return self.settings.get("tta", True)

    @property
    def lesions(self) -> tuple:
        return tuple(self.settings.get("lesions") or ())

    def replace(self, **changes: Any) -> AutoSegmenter:
        """A copy with other settings (``tta``, ``postprocess``) sharing the models, loaded or not; the
        X-ray segmenter names the CT post-processing options it cannot apply in its results."""
        copy = AutoSegmenter.__new__(AutoSegmenter)
        copy.settings = {**self.settings, **changes}
        copy._models = self._models
        copy._changes = {**self._changes, **changes}
        return copy

    def choose(self, study: Study) -> Choice:
        """The segmenter for ``study``, its model name and why; ``InputError`` when lesion models were
        asked for and the input is a radiograph."""
        ct = self.ct
        found = route(study, ct.eight_bit, self._models.xray().predictor)
        if found.model == XRAY_MODEL:
            if self.settings.get("lesions"):
                raise InputError(study.source, f"is a radiograph ({found.reason}); the lesion models segment CT")
            return Choice(self.xray, XRAY_MODEL, found.reason, found.sure)
        return Choice(ct, CT_MODEL, found.reason, found.sure)

    def report_fields(self) -> dict[str, Any]:
        """The fields of the segmenter a study is given to (``choose(study).segmenter.report_fields()``)."""
        raise TypeError("AutoSegmenter: report fields belong to the segmenter it chooses for a study")

    def segment(self, image, source: str | Path | None = None) -> SegmentationResult:
        return run_study(self, image, source=source).result

    def screen(self, image, source: str | Path | None = None) -> SegmentationResult:
        study = as_study(image, source)
        return self.choose(study).segmenter.screen(study)

    def apply(self, image):
        return self.segment(image).labels


def ct_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The ``CTSegmenter.from_pretrained`` arguments among ``settings`` (``tta``/``postprocess`` when set)."""
    values = {key: settings[key] for key in CT_SETTINGS if key in settings}
    extra = {key: settings[key] for key in ("tta", "postprocess") if settings.get(key) is not None}
    return {**values, **extra}
