"""``load_segmenter(name)``: the segmenter for a model name, checkpoint or ONNX file. ``"auto"`` ->
``AutoSegmenter`` (CT or X-ray per study), a model with a radiograph plan -> ``RadiographSegmenter``,
any other -> the CT segmenter (with lesion models: the lesion set on ``ct-lung``). The model is loaded
once: its card says which segmenter it belongs to, and that segmenter takes the loaded model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lungseg.inference.core.postprocess import PostprocessOptions
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.protocol import Segmenter
from lungseg.inference.ct.segmenter import CTSegmenter
from lungseg.inference.routing.auto import AutoSegmenter, ct_settings
from lungseg.inference.routing.route import AUTO
from lungseg.inference.xray.film_segmenter import RadiographSegmenter


def load_segmenter(
    name: str = AUTO,
    backend: str = "auto",
    threshold: float = 0.5,
    batch_size: int | None = None,
    tta: bool = True,
    postprocess: PostprocessOptions | None = None,
    lesions: Sequence[str] = (),
    device: str = "auto",
    precision: str = "auto",
) -> Segmenter:
    """The segmenter for ``name`` (module docstring), its networks on ``device`` in ``precision`` when
    they run on PyTorch. An X-ray model with post-processing options other than the defaults names them
    in an ``option-not-applied`` warning of each result; with lesion models it is a ``ValueError``."""
    settings: dict[str, Any] = {
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
        films = RadiographSegmenter(predictor, tta=tta, name=str(name))
        return films.replace(postprocess=postprocess) if postprocess is not None else films
    options = ct_settings({**settings, "postprocess": postprocess, "lesions": tuple(lesions)})
    return CTSegmenter.from_pretrained(str(name), loaded=predictor, **options)
