"""Which lung model an input needs, CT or chest X-ray, decided from the input itself (``--model auto``).

- a 3D volume, DICOM modality CT, or pixel values in Hounsfield units (air below -500) -> ``ct-lung``;
- DICOM modality CR/DX (a projection radiograph), or 12/16-bit pixel data without HU air and without
  negative values -> ``xray-lung`` (values down to below -50 are CT on a compressed Hounsfield scale, say
  a RescaleSlope of 0.1 baked into a TIFF: they go to the CT model, whose check names the HU scale);
- an 8-bit picture is either a CT slice export or a radiograph export, and both lung models look at it:
  the 8-bit CT model (``ct-lung-8bit``) outlines its lungs, which must pass the chest-CT picture check
  (``checks.chest_ct_picture``, the one the classifier and the CT segmenter run: enough enclosed lung,
  its median gray under ``checks.CT_LUNG_RATIO`` of a 15-pixel ring around it, smooth fields); the
  X-ray model finds lung fields on 18-35 % of a chest film and on under 5 % of CT exports. The model
  that sees its own anatomy gets the picture; when both or neither do, the lung/ring ratio decides
  (chest films >= 0.80, CT exports <= 0.61), and a picture that is neither (an EM section) is flagged
  ``not-chest-ct`` by the CT segmenter's run of the same check, so its verdict is ``check``.

``routing.auto.AutoSegmenter`` applies this rule per study and ``routing.load.load_segmenter(name)``
gives the segmenter for a model name, so a batch can mix CT and X-rays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lungseg.inference.core.checks import RADIOGRAPH_RATIO, chest_ct_picture, lung_ring_ratio
from lungseg.inference.core.domain import prepared_input
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.study import Study
from lungseg.inference.xray.film_checks import LUNG_PERCENT
from lungseg.io.dicom_radiograph import RADIOGRAPH_MODALITIES
from lungseg.preprocessing import intensity_kind
from lungseg.preprocessing.radiograph import looks_like_hu

AUTO = "auto"
CT_MODEL, XRAY_MODEL = "ct-lung", "xray-lung"
MIN_CT_LUNG_FRACTION = 0.02  # an axial chest CT export shows more lung than this
NEGATIVE_VALUE = -50.0  # pixel values below this are not radiograph data (CT on a compressed HU scale)
DOMAIN_RATIO = 2.0  # one model's in-domain distance (over its threshold) this many times the other's decides


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
    if float(picture.min()) < NEGATIVE_VALUE:  # radiographs store photon counts: never far below zero
        return Route(
            CT_MODEL,
            f"negative pixel values (down to {float(picture.min()):.0f}): CT data, not radiograph data "
            "(the CT checks judge its Hounsfield scale)",
        )
    if intensity_kind(picture) == "hu":
        return Route(
            XRAY_MODEL,
            f"{picture.dtype} pixel values up to {float(picture.max()):.0f} with no air in "
            "Hounsfield units: radiograph data",
        )
    if ct_lungs_8bit is None or xray_lungs is None:
        return Route(CT_MODEL, "an 8-bit picture")
    return _eight_bit_route(picture, ct_lungs_8bit, xray_lungs)


def _domain_route(ct: tuple[float, float] | None, xray: tuple[float, float] | None) -> Route | None:
    """The route the in-domain checks decide ((distance, threshold) per model), or None when they do not."""
    if ct is None or xray is None:
        return None
    near_ct, near_xray = ct[0] / ct[1], xray[0] / xray[1]  # 1.0 = at the model's threshold
    one_only = (near_ct <= 1) != (near_xray <= 1)
    if not one_only and max(near_ct, near_xray) < DOMAIN_RATIO * min(near_ct, near_xray):
        return None
    to_ct = near_ct < near_xray
    pairs = [(ct, "CT slice export"), (xray, "chest film")]
    (chosen, kind), (other, other_kind) = pairs if to_ct else pairs[::-1]
    return Route(
        CT_MODEL if to_ct else XRAY_MODEL,
        f"an 8-bit picture {'in the training domain of' if one_only else 'much nearer the training images of'} "
        f"the {kind} model (distance {chosen[0]:.1f}, in-domain up to {chosen[1]:.1f}; the {other_kind} "
        f"model: {other[0]:.1f} of {other[1]:.1f})",
        sure=min(near_ct, near_xray) <= 1,
    )


def _in_domain(predictor: Predictor, picture: np.ndarray) -> tuple[float, float] | None:
    """(distance, threshold) of the model's stored check, or None for a model without one."""
    check = getattr(predictor, "domain", None)
    if check is None:
        return None
    return float(check.distances_of([prepared_input(predictor.card, picture)])[0]), check.threshold


def _eight_bit_route(picture: np.ndarray, ct_lungs: Predictor, xray_lungs: Predictor) -> Route:
    """A CT export passes the chest-CT picture check (``checks.chest_ct_picture``, the classifier's check:
    enough enclosed lung, darker than the tissue around it, smooth) on the CT model's lungs; a chest film
    has lung fields on a plausible share of the picture by the X-ray model. When exactly one model sees
    its anatomy, it gets the picture; otherwise the lung/ring ratio decides (a picture that is neither
    goes to the CT model, whose own run of the same check flags it ``not-chest-ct``: verdict check).
    Before all that, the models' in-domain checks (``core.domain``, the same check and threshold each
    segmenter runs): when the picture is in the training domain of exactly one model, that model gets it;
    when both or neither, the model it is at least ``DOMAIN_RATIO`` times nearer (in units of each model's
    threshold) gets it."""
    by_domain = _domain_route(_in_domain(ct_lungs, picture), _in_domain(xray_lungs, picture))
    if by_domain is not None:
        return by_domain
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
