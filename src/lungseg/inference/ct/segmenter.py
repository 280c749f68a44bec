"""``CTSegmenter`` (``lungseg.inference.Segmenter``): point it at a chest CT and get labelled lungs,
measurements, checks, a quality score and a trust verdict (``result.verdict``: ok, check or refused).

    seg = Segmenter.from_pretrained("ct-lung")       # or a checkpoint: from_pretrained("run/best.pt")
    labels = seg.apply("scan_dicom_folder/")          # SimpleITK image, 1 = right lung, 2 = left lung
    result = seg.segment("scan.nii.gz")               # labels + measurements + findings + quality

A volume is reoriented to LPS, resampled to an axial grid if it is oblique or non-axial (``ct.prepare``),
segmented slice by slice in batches with the checkpoint's preprocessing plan, post-processed in 3D, split
into right and left lung, the trachea and bronchi taken out of the lungs as airways (``ct.airways``, label
8, HU input only), and put back on the input's own grid (spacing, origin and direction unchanged).
A 2D slice (array or image file) goes through the same steps as a volume of one slice and its labels come
back as an (H, W) uint8 array. With lesion models (``lesions``) it is the lesion-set segmenter: the
lesions are found inside the lungs and merged into the one label map (``lesions.stage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lungseg.inference.core.checks import check_radiograph_picture, check_result, chest_ct_picture, raise_refusals
from lungseg.inference.core.domain import check_slices
from lungseg.inference.core.measure import measure
from lungseg.inference.core.pipeline import model_fields
from lungseg.inference.core.postprocess import PostprocessOptions, postprocess
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.protocol import Choice
from lungseg.inference.core.quality import QUALITY_FLAG, Quality, apply_plausibility, quality_scores
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.steps import model_masks, sides
from lungseg.inference.core.study import as_study
from lungseg.inference.ct.airways import add_airways
from lungseg.inference.ct.anatomy import check_anatomy
from lungseg.inference.ct.model_set import load_models
from lungseg.inference.ct.prepare import body_midline, on_input_grid, prepare
from lungseg.inference.lesions.model import LesionModel, LesionOptions
from lungseg.inference.lesions.stage import add_lesions
from lungseg.labels import AIRWAY, BOTH_LUNGS, SPLIT_LUNGS, LabelClass
from lungseg.preprocessing import intensity_kind


class CTSegmenter:
    """Lung segmentation of CT volumes and slices, optionally with lesions inside the lungs. ``tta``
    averages a left-right flipped pass and scores their disagreement; ``postprocess`` sets the clean-up
    steps; ``lesions``: lesion models run inside the lung field (``lungseg.inference.lesions``);
    ``eight_bit``: the lung model for 8-bit exports when ``predictor`` takes HU only."""

    def __init__(
        self,
        predictor: Predictor,
        postprocess: PostprocessOptions | None = None,
        tta: bool = True,
        lesions: Sequence[LesionModel] = (),
        lesion_options: LesionOptions | None = None,
        eight_bit: Predictor | None = None,
        names: tuple[str | None, str | None] | None = None,
    ):
        self.predictor = predictor
        self.options = postprocess or PostprocessOptions()
        self.tta = tta
        self.lesions = tuple(lesions)
        self.lesion_options = lesion_options or LesionOptions()
        self.eight_bit = eight_bit
        self.names = names

    @classmethod
    def from_pretrained(
        cls,
        name: str = "ct-lung",
        backend: str = "auto",
        threshold: float = 0.5,
        batch_size: int | None = None,
        lesions: Sequence[str] = (),
        device: str = "auto",
        precision: str = "auto",
        loaded: Predictor | None = None,
        **kwargs: Any,
    ) -> CTSegmenter:
        """A shipped model name, a checkpoint, an exported ``.onnx`` file or a ``lungseg cv`` folder.
        A lesion model given as ``name`` runs on top of the shipped ``ct-lung`` lungs, as ``lesions`` do;
        a shipped lung model with an 8-bit variant (``ct-lung`` -> ``ct-lung-8bit``) takes exports too.
        ``loaded``: the model ``name`` when the caller has loaded it already (it is not loaded again)."""
        models = load_models(name, lesions, backend, threshold, batch_size, device, precision, loaded)
        return cls(
            models.lungs,
            lesions=models.lesions,
            eight_bit=models.eight_bit,
            names=(models.lung_name, models.eight_bit_name),
            **kwargs,
        )

    def replace(self, **changes: Any) -> CTSegmenter:
        """A copy sharing the loaded models, with some constructor arguments changed (``tta``,
        ``postprocess``, ``lesions``, ...); an unknown argument is a ``TypeError`` naming it."""
        arguments = {
            "predictor": self.predictor,
            "postprocess": self.options,
            "tta": self.tta,
            "lesions": self.lesions,
            "lesion_options": self.lesion_options,
            "eight_bit": self.eight_bit,
            "names": self.names,
        }
        return CTSegmenter(**{**arguments, **changes})

    def choose(self, study) -> Choice:
        """This segmenter for every study (``routing.AutoSegmenter`` chooses between CT and X-ray)."""
        return Choice(self)

    def report_fields(self) -> dict[str, Any]:
        return model_fields(self.predictor, self.tta, self.options.to_dict())

    def apply(self, image):
        """Path, SimpleITK image or array -> label map in the input's geometry (1 right, 2 left lung): a
        SimpleITK image for a volume, an (H, W) uint8 array for a 2D slice."""
        return self.segment(image).labels

    def segment(self, image, source: str | Path | None = None) -> SegmentationResult:
        """Run the checks and the model; raises ``InputError`` when the input is refused. A 2D slice is a
        volume of one slice without spacing; its labels come back as an (H, W) array."""
        study = as_study(image, source)
        ready = prepare(study, self._lung_model)
        hu, spacing, expects_hu, findings = ready.hu, ready.spacing, ready.expects_hu, ready.findings
        midline = body_midline(hu) if expects_hu else None
        labels, quality, split_findings = self._labels(ready.model, hu, midline)
        lung_classes: tuple[LabelClass, ...] = SPLIT_LUNGS if self.options.split_lungs else BOTH_LUNGS
        labels = add_airways(hu, labels, spacing, expects_hu, midline)  # HU only, split or not: not lung
        airways: tuple[LabelClass, ...] = (AIRWAY,) if (labels == AIRWAY.value).any() else ()
        classes = (*lung_classes, *airways)
        in_hu = hu if expects_hu else None  # mean HU and density indices mean nothing on an export
        measurements = measure(labels, classes, in_hu, spacing, is_volume=study.is_volume)
        if not expects_hu and not study.is_volume:
            findings += check_radiograph_picture(hu[0], labels[0] > 0)
            raise_refusals(findings, study.source)
            findings += chest_ct_picture(hu[0], labels[0] > 0)
        findings += split_findings
        domain = check_slices(ready.model, self._model_name(ready.model), hu, labels)
        findings += domain.findings() if domain else []
        findings += check_result(labels, measurements, study.is_volume, spacing, midline)
        raise_refusals(findings, study.source)
        findings += check_anatomy(hu, labels, expects_hu, self.options.split_lungs)
        quality = apply_plausibility(quality, findings)
        burden = nodules = None
        if self.lesions:
            added = add_lesions(
                self.lesions,
                self.lesion_options,
                self.tta,
                hu,
                labels,
                spacing,
                lung_classes,
                expects_hu,
                study.is_volume,
            )
            labels, classes, burden, nodules = added.labels, (*added.classes, *airways), added.burden, added.nodules
            findings += added.findings
            measurements = measure(labels, classes, in_hu, spacing, is_volume=study.is_volume)
        lung_name = self._model_name(ready.model)
        names = tuple(name for name in (lung_name, *(model.name for model in self.lesions)) if name)
        return SegmentationResult(
            study,
            on_input_grid(labels, ready.canonical, study),
            labels,
            hu,
            spacing,
            classes,
            measurements,
            quality,
            findings,
            burden,
            names,
            nodules,
        )

    def _model_name(self, model: Predictor) -> str | None:
        """The shipped name of the lung model that ran (None for a user's own file)."""
        return (self.names[1] if model is self.eight_bit else self.names[0]) if self.names else None

    def _lung_model(self, stored: np.ndarray) -> Predictor:
        """The HU lung model, or its 8-bit variant for an 8-bit export (when there is one)."""
        if self.eight_bit is not None and self.predictor.plan.intensity == "hu" and intensity_kind(stored) == "8bit":
            return self.eight_bit
        return self.predictor

    def screen(self, image, source: str | Path | None = None, max_slices: int = 24) -> SegmentationResult:
        """A quick look before a long run (the web app's upload check): the same checks and model on
        every k-th slice of a volume (at most ``max_slices``, spacing scaled by k) without TTA. Raises
        ``InputError`` where ``segment`` would refuse (no lungs, X-ray, not HU, ...); its volumes are
        estimates and its quality means nothing. Lesion models are not run."""
        study = as_study(image, source)
        if study.is_volume and study.volume.GetSize()[2] > max_slices:
            step = -(-study.volume.GetSize()[2] // max_slices)
            study = replace(study, image=study.volume[:, :, ::step])
        return self.replace(tta=False, lesions=()).segment(study)  # the lung checks only: lesions are not screened

    def _labels(self, model: Predictor, hu: np.ndarray, midline: float | None) -> tuple[np.ndarray, Quality, list]:
        raw, agreement, confidence = model_masks(model, hu, self.tta)
        mask = postprocess(raw, self.options, hu)
        del raw
        quality = quality_scores(mask, agreement, confidence)
        if not self.options.split_lungs:
            return mask.astype(np.uint8), quality, []
        labels, split_findings = sides(mask, midline)
        return labels, quality, split_findings


Segmenter = CTSegmenter  # the public name (``lungseg.inference.Segmenter``, the README's Python API)

__all__ = ["QUALITY_FLAG", "CTSegmenter", "SegmentationResult", "Segmenter"]
