"""``SegmentationResult``: what every segmenter returns for one study (CT volume, CT slice or chest film)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lungseg.findings import Finding, Level
from lungseg.inference.core.lesion_burden import LesionBurden
from lungseg.inference.core.measure import Measurements
from lungseg.inference.core.nodule_rows import NoduleRow
from lungseg.inference.core.quality import Quality
from lungseg.inference.core.study import Study
from lungseg.inference.core.verdict import Verdict, trust_verdict
from lungseg.labels import LabelClass

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class SegmentationResult:
    """``labels``: a SimpleITK image on the input grid (volume) or an (H, W) uint8 array (slice, film);
    ``canonical_labels``/``canonical_hu``: (Z, Y, X) arrays in LPS used for overlays and measurements
    (a film's display picture in ``canonical_hu``); ``classes``: the label classes of the label map
    (``lungseg.labels``); ``lesions``: with lesion models, the burden per class and lung; ``nodules``: with a
    nodule model (automatic candidates) or at a user's points, the nodules (``core.nodule_rows``), else None."""

    study: Study
    labels: sitk.Image | np.ndarray
    canonical_labels: np.ndarray
    canonical_hu: np.ndarray
    canonical_spacing: tuple[float, float, float] | None
    classes: tuple[LabelClass, ...]
    measurements: Measurements
    quality: Quality
    findings: list[Finding] = field(default_factory=list)
    lesions: LesionBurden | None = None
    models: tuple[str, ...] = ()  # the models that made the label map (lung model first)
    nodules: tuple[NoduleRow, ...] | None = None

    @property
    def flagged(self) -> bool:
        return self.quality.flagged or any(f.level == Level.WARN for f in self.findings)

    @property
    def verdict(self) -> Verdict:
        """``ok``, ``check`` (with what and where) or ``refused``, from the findings and the quality
        (``inference.core.verdict.trust_verdict``, the one place that decides it)."""
        return trust_verdict(self.findings, self.quality)
