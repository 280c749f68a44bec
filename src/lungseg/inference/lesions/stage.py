"""The lesion stage of a CT segmentation: every lesion model run inside the lungs, solid lesions made of
aerated lung dropped (``lesions.density``), the maps merged into the lung labels, and the burden. A
crop-scale nodule model (``ModelCard.nodule_crops``) searches the lungs in windows instead
(``lesions.nodule_search``): its candidates are nodule labels and the report's nodule rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lungseg.findings import Finding
from lungseg.inference.core.lesion_burden import LesionBurden
from lungseg.inference.core.nodule_rows import NoduleRow
from lungseg.inference.lesions.burden import lesion_burden
from lungseg.inference.lesions.density import drop_aerated
from lungseg.inference.lesions.model import LesionModel, LesionOptions, merge_lesions
from lungseg.inference.lesions.nodule_search import search_nodules
from lungseg.labels import LabelClass


@dataclass(frozen=True)
class WithLesions:
    """The merged (Z, Y, X) label map, its classes (lungs first), the density findings, the burden and,
    when a nodule model ran, its candidates (else None)."""

    labels: np.ndarray
    classes: tuple[LabelClass, ...]
    findings: list[Finding]
    burden: LesionBurden
    nodules: tuple[NoduleRow, ...] | None = None


def add_lesions(
    models: Sequence[LesionModel],
    options: LesionOptions,
    tta: bool,
    stored: np.ndarray,
    lungs: np.ndarray,
    spacing,
    lung_classes: tuple[LabelClass, ...],
    in_hu: bool,
    is_volume: bool,
) -> WithLesions:
    """Run ``models`` on the (Z, Y, X) ``stored`` image inside the ``lungs`` labels (module docstring)."""
    found, findings, nodules = [], [], None
    for model in models:
        if model.predictor.card.nodule_crops:
            search = search_nodules(model, stored, lungs, spacing, in_hu)
            found.append(search.labels)
            findings += search.findings
            nodules = (*(nodules or ()), *search.rows)
            continue
        domain = model.domain(stored, lungs, options)
        findings += domain.findings() if domain else []
        kept, dropped = drop_aerated(
            model.find(stored, lungs, spacing, options, tta), stored, lungs, model.classes, in_hu, spacing
        )
        found.append(kept)
        findings += dropped
    lesion_classes = tuple(dict.fromkeys(label for model in models for label in model.classes))
    labels = merge_lesions(lungs, found)
    classes = (*lung_classes, *lesion_classes)
    burden = lesion_burden(labels, lung_classes, classes[len(lung_classes) :], spacing, is_volume)
    return WithLesions(labels, classes, findings, burden, nodules)
