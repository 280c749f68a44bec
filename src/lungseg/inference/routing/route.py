"""Which lung model an input needs, CT or chest X-ray, decided from the input itself (``--model auto``).

- a 3D volume, DICOM modality CT, or pixel values in Hounsfield units (air below -500) -> ``ct-lung``;
- DICOM modality CR/DX (a projection radiograph), or 12/16-bit pixel data without HU air -> ``xray-lung``;
- an 8-bit picture is either a CT slice export or a radiograph export, and both lung models look at it:
  the 8-bit CT model (``ct-lung-8bit``) outlines its lungs, which must pass the chest-CT picture check
  (``checks.chest_ct_picture``, the one the classifier and the CT segmenter run: enough enclosed lung,
  its median gray under ``checks.CT_LUNG_RATIO`` of a 15-pixel ring around it, smooth fields); the
  X-ray model finds lung fields on 18-35 % of a chest film and on under 5 % of CT exports. The model
  that sees its own anatomy gets the picture; when both or neither do, the lung/ring ratio decides
  (chest films >= 0.80, CT exports <= 0.61), and a picture that is neither (an EM section) is flagged
  ``not-chest-ct`` by the CT segmenter's run of the same check, so its verdict is ``check``.

``load_segmenter(name)`` gives the segmenter for a model name: ``"auto"`` -> ``AutoSegmenter``, a model
with a radiograph plan -> ``RadiographSegmenter``, any other -> the CT ``Segmenter``. Each has
``choose(study)`` -> a ``Choice`` (the segmenter that runs it, and the model name and reason when chosen
from the input), so a batch can mix CT and X-rays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungseg import findings as catalogue
from lungseg.errors import InputError
from lungseg.inference.core.checks import RADIOGRAPH_RATIO, chest_ct_picture, lung_ring_ratio
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.study import Study, as_study
from lungseg.inference.ct.segmenter import Choice, SegmentationResult, Segmenter
from lungseg.inference.xray.film_segmenter import LUNG_PERCENT, RadiographSegmenter
from lungseg.io.dicom_radiograph import RADIOGRAPH_MODALITIES
from lungseg.preprocessing import intensity_kind
from lungseg.preprocessing.radiograph import looks_like_hu

AUTO = "auto"
CT_MODEL, XRAY_MODEL = "ct-lung", "xray-lung"
MIN_CT_LUNG_FRACTION = 0.02  # an axial chest CT export shows more lung than this


@dataclass(frozen=True)
class Route:
    """The model for an input and why; ``sure`` False when both lung models (or neither) recognised an
    8-bit picture and the lung/ring ratio broke the tie (on unprocessed, high-contrast chest films, the
    138 Montgomery PNGs at ratio 0.14-0.46, that rule picks the CT model), or when the one model that
    recognised it disagrees with the ratio: such a result is flagged ``routing-unsure``."""

    model: str
    reason: str
    sure: bool = True


def route(study: Study, ct_lungs_8bit: Predictor | None = None, xray_lungs: Predictor | None = None) -> Route:
    """The lung model for ``study`` and why (module docstring). 8-bit pictures are judged by both lung
    models (without them they go to the CT model, whose own checks refuse radiographs)."""
    modality = (study.modality or "").upper()
    if study.is_volume:
        return Route(CT_MODEL, "a 3D volume")
    if modality in RADIOGRAPH_MODALITIES:
        return Route(XRAY_MODEL, f"DICOM modality {modality} (a projection radiograph)")
    if modality == "CT":
        return Route(CT_MODEL, "DICOM modality CT")
    picture = np.asarray(study.image)
    picture = picture[..., 0] if picture.ndim == 3 else picture
    if np.issubdtype(picture.dtype, np.floating) and not np.isfinite(picture).all():  # NaN/inf: judge the rest
        finite = picture[np.isfinite(picture)]
        picture = finite.reshape(1, -1) if finite.size else np.zeros((1, 1), picture.dtype)
        if looks_like_hu(picture):
            return Route(CT_MODEL, "pixel values in Hounsfield units")
        return Route(
            XRAY_MODEL if intensity_kind(picture) == "hu" else CT_MODEL,
            "a float image with NaN/inf values, judged by its finite values",
        )
    if looks_like_hu(picture):
        return Route(CT_MODEL, "pixel values in Hounsfield units")
    if intensity_kind(picture) == "hu":
        return Route(
            XRAY_MODEL,
            f"{picture.dtype} pixel values up to {float(picture.max()):.0f} with no air in "
            "Hounsfield units: radiograph data",
        )
    if ct_lungs_8bit is None or xray_lungs is None:
        return Route(CT_MODEL, "an 8-bit picture")
    return _eight_bit_route(picture, ct_lungs_8bit, xray_lungs)


def _eight_bit_route(picture: np.ndarray, ct_lungs: Predictor, xray_lungs: Predictor) -> Route:
    """A CT export passes the chest-CT picture check (``checks.chest_ct_picture``, the classifier's check:
    enough enclosed lung, darker than the tissue around it, smooth) on the CT model's lungs; a chest film
    has lung fields on a plausible share of the picture by the X-ray model. When exactly one model sees
    its anatomy, it gets the picture; otherwise the lung/ring ratio decides (a picture that is neither
    goes to the CT model, whose own run of the same check flags it ``not-chest-ct``: verdict check)."""
    ct_mask = ct_lungs.predict([picture])[0]
    ratio = lung_ring_ratio(picture, ct_mask) if ct_mask.sum() >= 100 else float("nan")
    not_ct = chest_ct_picture(picture, ct_mask)
    ct_ok = not not_ct
    field_percent = 100.0 * float(xray_lungs.predict([picture])[0].mean())
    xray_ok = LUNG_PERCENT[0] <= field_percent <= LUNG_PERCENT[1]
    ct_sees = (
        f"the CT model finds {100 * ct_mask.mean():.1f}% lung, "
        + (f"lung/ring ratio {ratio:.2f}" if ratio == ratio else "too little for a ratio")
        + (f"; {not_ct[0].message}" if not_ct else "")
    )
    xray_sees = f"the X-ray model finds {field_percent:.1f}% lung fields"
    film_ratio = ratio > RADIOGRAPH_RATIO  # NaN (too little CT lung for a ratio) is no film evidence
    if xray_ok and not ct_ok:  # sure only when the lung/ring ratio agrees (CT exports the CT check misses)
        return Route(
            XRAY_MODEL, f"an 8-bit picture that looks like a chest film ({xray_sees}; {ct_sees})", sure=film_ratio
        )
    if ct_ok and not xray_ok:
        return Route(
            CT_MODEL,
            f"an 8-bit picture that looks like a CT slice export ({ct_sees}; {xray_sees})",
            sure=not film_ratio,
        )
    model = XRAY_MODEL if ratio > RADIOGRAPH_RATIO else CT_MODEL
    return Route(
        model,
        f"an 8-bit picture that both or neither model find their anatomy in ({ct_sees}; "
        f"{xray_sees}): the ratio {'above' if model == XRAY_MODEL else 'at or below'} "
        f"{RADIOGRAPH_RATIO} decides",
        sure=False,
    )


class AutoSegmenter:
    """CT or X-ray lung segmentation, chosen per input (``route``); the models load when first needed.
    ``ct``/``xray``: ready segmenters, or None to load the shipped ``ct-lung``/``xray-lung`` with
    ``settings`` (backend, threshold, batch_size, tta, postprocess, lesions)."""

    def __init__(self, ct: Segmenter | None = None, xray: RadiographSegmenter | None = None, **settings):
        self._ct, self._xray, self.settings = ct, xray, settings

    @property
    def ct(self) -> Segmenter:
        if self._ct is None:
            self._ct = Segmenter.from_pretrained(CT_MODEL, **_ct_settings(self.settings))
        return self._ct

    @property
    def xray(self) -> RadiographSegmenter:
        if self._xray is None:
            keys = ("backend", "threshold", "batch_size", "tta", "device", "precision")
            self._xray = RadiographSegmenter.from_pretrained(
                XRAY_MODEL, **{key: self.settings[key] for key in keys if key in self.settings}
            )
        return self._xray

    @property
    def tta(self) -> bool:
        return self.settings.get("tta", True)

    def replace(self, **changes) -> AutoSegmenter:
        """A copy with other settings (``tta``, ``postprocess``) sharing the loaded models."""
        return AutoSegmenter(self.ct.replace(**changes), self.xray.replace(**changes), **{**self.settings, **changes})

    def choose(self, study: Study) -> Choice:
        """The segmenter for ``study``, its model name and why; ``InputError`` when lesion models were
        asked for and the input is a radiograph."""
        found = route(study, self.ct.eight_bit, self.xray.predictor)
        if found.model == XRAY_MODEL:
            if self.settings.get("lesions"):
                raise InputError(study.source, f"is a radiograph ({found.reason}); the lesion models segment CT")
            return Choice(self.xray, XRAY_MODEL, found.reason, found.sure)
        return Choice(self.ct, CT_MODEL, found.reason, found.sure)

    def segment(self, image, source: str | Path | None = None) -> SegmentationResult:
        study = as_study(image, source)
        choice = self.choose(study)
        return with_choice(choice.segmenter.segment(study), choice)

    def screen(self, image, source: str | Path | None = None) -> SegmentationResult:
        study = as_study(image, source)
        return self.choose(study).segmenter.screen(study)

    def apply(self, image):
        return self.segment(image).labels


def with_choice(result: SegmentationResult, choice: Choice) -> SegmentationResult:
    """The result with an info finding saying which model was chosen and why (when it was chosen), and a
    ``routing-unsure`` warning when a tie-break rule chose it."""
    if choice.model is not None:
        result.findings.insert(0, catalogue.MODEL_CHOSEN(model=choice.model, why=choice.reason))
        if not choice.sure:
            result.findings.insert(1, catalogue.ROUTING_UNSURE(model=choice.model))
    return result


def load_segmenter(
    name: str = AUTO,
    backend: str = "auto",
    threshold: float = 0.5,
    batch_size: int | None = None,
    tta: bool = True,
    postprocess=None,
    lesions=(),
    device: str = "auto",
    precision: str = "auto",
):
    """The segmenter for a model name, checkpoint or ONNX file (module docstring), its networks on
    ``device`` in ``precision`` when they run on PyTorch."""
    settings = {
        "backend": backend,
        "threshold": threshold,
        "batch_size": batch_size,
        "tta": tta,
        "device": device,
        "precision": precision,
    }
    if str(name) == AUTO:
        return AutoSegmenter(**settings, postprocess=postprocess, lesions=tuple(lesions))
    predictor = Predictor.load(
        name, backend=backend, threshold=threshold, batch_size=batch_size, device=device, precision=precision
    )
    if predictor.plan.intensity == "xray":
        if lesions:
            raise ValueError(f"--lesions: the lesion models segment CT, but {name} is a chest X-ray model")
        return RadiographSegmenter(predictor, tta=tta, name=str(name))
    return Segmenter.from_pretrained(
        str(name), **_ct_settings({**settings, "postprocess": postprocess, "lesions": tuple(lesions)})
    )


def _ct_settings(settings: dict) -> dict:
    values = {
        key: settings[key]
        for key in ("backend", "threshold", "batch_size", "lesions", "device", "precision")
        if key in settings
    }
    extra = {key: settings[key] for key in ("tta", "postprocess") if settings.get(key) is not None}
    return {**values, **extra}
