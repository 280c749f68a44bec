"""Which models one segmentation uses: the lung model (and its 8-bit variant) and the lesion models.

``lungseg predict SCAN OUT --model covid-infection`` and ``--model ct-lung --lesions covid-infection``
mean the same: a lesion model needs the lung field, which the shipped ``ct-lung`` gives (a model is a
lesion model when its class names are not the lung's). A shipped lung model whose manifest entry names
an ``eight_bit_variant`` also takes 8-bit exports, through that variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lungseg.inference.core.predictor import Predictor
from lungseg.inference.lesions.model import LesionModel
from lungseg.io.shipped import shipped_models

LUNG_NAMES = {("lung",), ("right lung", "left lung")}
DEFAULT_LUNG_MODEL = "ct-lung"


@dataclass(frozen=True)
class ModelSet:
    lungs: Predictor
    lung_name: str
    eight_bit: Predictor | None
    eight_bit_name: str | None
    lesions: tuple[LesionModel, ...]


def is_lung_model(predictor: Predictor) -> bool:
    return tuple(predictor.card.class_names) in LUNG_NAMES


def load_models(
    name: str,
    lesions: Sequence[str] = (),
    backend: str = "auto",
    threshold: float = 0.5,
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    loaded: Predictor | None = None,
) -> ModelSet:
    """Load the lung model ``name`` (or ``ct-lung`` when ``name`` is a lesion model), its 8-bit
    variant when the manifest names one, and the lesion models (all on ``device`` in ``precision`` when
    they run on PyTorch); ``loaded``: the model ``name``, already loaded by the caller."""

    def load(reference: str) -> Predictor:
        return Predictor.load(
            reference, backend=backend, threshold=threshold, batch_size=batch_size, device=device, precision=precision
        )

    first = loaded if loaded is not None else load(name)
    lesion_names = list(lesions)
    if not is_lung_model(first):
        lesion_names.insert(0, str(name))
        lung_name, lungs = DEFAULT_LUNG_MODEL, load(DEFAULT_LUNG_MODEL)
        preloaded = {str(name): first}
    else:
        lung_name, lungs, preloaded = str(name), first, {}
    shipped = shipped_models()
    variant = shipped.get(lung_name, {}).get("eight_bit_variant")
    variant = variant if variant in shipped else None  # a manifest without the variant's own entry
    eight_bit = load(variant) if variant else None
    models: list[LesionModel] = []
    for lesion in lesion_names:
        predictor = preloaded.get(lesion) or load(lesion)
        if is_lung_model(predictor):
            raise ValueError(
                f"--lesions {lesion!r} is a lung model; give lesion models there (e.g. covid-infection, lung-nodule)"
            )
        models.append(LesionModel(predictor, lesion, tuple(c for m in models for c in m.classes)))
    return ModelSet(lungs, lung_name, eight_bit, variant, tuple(models))
