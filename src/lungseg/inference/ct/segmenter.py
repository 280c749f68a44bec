"""``Segmenter``: point it at a chest CT and get labelled lungs, measurements, checks, a quality score and a
trust verdict (``result.verdict``: ok, check or refused).

    seg = Segmenter.from_pretrained("ct-lung")       # or a checkpoint: from_pretrained("run/best.pt")
    labels = seg.apply("scan_dicom_folder/")          # SimpleITK image, 1 = right lung, 2 = left lung
    result = seg.segment("scan.nii.gz")               # labels + measurements + findings + quality

A volume is reoriented to LPS (axial slices, patient right on the image left, inferior slice first),
resampled to an axial grid if it is oblique or non-axial, segmented slice by slice in batches with the
checkpoint's preprocessing plan, post-processed in 3D, split into right and left lung, and put back on
the input's own grid (spacing, origin and direction unchanged). A 2D slice (array or image file) goes
through the same steps as a volume of one slice and its labels come back as an (H, W) uint8 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding, Level
from lungseg.inference.core.checks import (
    check_finite,
    check_intensity,
    check_modality,
    check_orientation,
    check_radiograph_picture,
    check_result,
    check_xray_like,
    chest_ct_picture,
    raise_refusals,
)
from lungseg.inference.core.measure import Measurements, measure
from lungseg.inference.core.postprocess import PostprocessOptions, postprocess, split_lungs
from lungseg.inference.core.predictor import Predictor
from lungseg.inference.core.quality import QUALITY_FLAG, Quality, apply_plausibility, quality_scores
from lungseg.inference.core.reorient import from_canonical, to_canonical
from lungseg.inference.core.study import Study, as_study
from lungseg.inference.core.verdict import Verdict, trust_verdict
from lungseg.inference.ct.anatomy import check_anatomy
from lungseg.inference.ct.model_set import load_models
from lungseg.inference.lesions.burden import LesionBurden, lesion_burden
from lungseg.inference.lesions.density import drop_aerated
from lungseg.inference.lesions.model import LesionModel, LesionOptions, merge_lesions
from lungseg.labels import BOTH_LUNGS, SPLIT_LUNGS, LabelClass
from lungseg.preprocessing import intensity_kind

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class SegmentationResult:
    """``labels``: SimpleITK image on the input grid (volume) or (H, W) uint8 array (slice);
    ``canonical_labels``/``canonical_hu``: (Z, Y, X) arrays in LPS used for overlays and measurements;
    ``classes``: the label classes of the label map (``lungseg.labels``)."""

    study: Study
    labels: object
    canonical_labels: np.ndarray
    canonical_hu: np.ndarray
    canonical_spacing: tuple[float, float, float] | None
    classes: tuple[LabelClass, ...]
    measurements: Measurements
    quality: Quality
    findings: list[Finding] = field(default_factory=list)
    lesions: LesionBurden | None = None  # with lesion models: burden per class and lung, tumour components
    models: tuple[str, ...] = ()  # the models that made the label map (lung model first)

    @property
    def flagged(self) -> bool:
        return self.quality.flagged or any(f.level == Level.WARN for f in self.findings)

    @property
    def verdict(self) -> Verdict:
        """``ok``, ``check`` (with what and where) or ``refused``, from the findings and the quality
        (``inference.core.verdict.trust_verdict``, the one place that decides it)."""
        return trust_verdict(self.findings, self.quality)


@dataclass(frozen=True)
class Choice:
    """The segmenter that runs a study; ``model`` and ``reason`` when it was chosen from the input
    (``--model auto``), else None; ``sure`` False when the choice fell to a tie-break rule that can be
    wrong (the result then carries a ``routing-unsure`` warning)."""

    segmenter: object
    model: str | None = None
    reason: str | None = None
    sure: bool = True


class Segmenter:
    """Lung segmentation of CT volumes and slices, optionally with lesions inside the lungs. ``tta``
    averages a left-right flipped pass and scores their disagreement; ``postprocess`` sets the clean-up
    steps; ``lesions``: lesion models run inside the lung field (``lungseg.inference.lesions.model``);
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
        **kwargs,
    ) -> Segmenter:
        """A shipped model name, a checkpoint, an exported ``.onnx`` file or a ``lungseg cv`` folder.
        A lesion model given as ``name`` runs on top of the shipped ``ct-lung`` lungs, as ``lesions`` do;
        a shipped lung model with an 8-bit variant (``ct-lung`` -> ``ct-lung-8bit``) takes exports too."""
        models = load_models(name, lesions, backend, threshold, batch_size, device, precision)
        return cls(
            models.lungs,
            lesions=models.lesions,
            eight_bit=models.eight_bit,
            names=(models.lung_name, models.eight_bit_name),
            **kwargs,
        )

    def replace(self, **changes) -> Segmenter:
        """A copy sharing the loaded models, with some constructor arguments changed (``tta``,
        ``postprocess``, ``lesions``, ...)."""
        arguments = {
            "predictor": self.predictor,
            "postprocess": self.options,
            "tta": self.tta,
            "lesions": self.lesions,
            "lesion_options": self.lesion_options,
            "eight_bit": self.eight_bit,
            "names": self.names,
        }
        return Segmenter(**{**arguments, **changes})

    def choose(self, study: Study) -> Choice:
        """This segmenter for every study (``routing.AutoSegmenter`` chooses between CT and X-ray)."""
        return Choice(self)

    def apply(self, image) -> sitk.Image | np.ndarray:
        """Path, SimpleITK image or array -> label map in the input's geometry (1 right, 2 left lung): a
        SimpleITK image for a volume, an (H, W) uint8 array for a 2D slice."""
        return self.segment(image).labels

    def segment(self, image, source: str | Path | None = None) -> SegmentationResult:
        """Run the checks and the model; raises ``InputError`` when the input is refused. A 2D slice is a
        volume of one slice without spacing; its labels come back as an (H, W) array."""
        import SimpleITK as sitk

        study = as_study(image, source)
        findings = list(study.findings) + check_modality(study.modality)
        raise_refusals(findings, study.source)
        canonical = None
        if study.is_volume:
            findings += check_orientation(study.image.GetDirection())
            canonical = to_canonical(study.image, study.source)
            stored = sitk.GetArrayFromImage(canonical)
        else:
            picture = np.asarray(study.image)
            stored = (picture[..., 0] if picture.ndim == 3 else picture)[None]  # RGB: refused below with the reason
        lung_model = self._lung_model(stored)
        expects_hu = lung_model.plan.intensity == "hu"
        hu, finite_findings = check_finite(stored, expects_hu)
        findings += finite_findings
        raise_refusals(findings, study.source)
        findings += check_intensity(hu, expects_hu, is_volume=study.is_volume)
        findings += [] if study.is_volume else check_xray_like(hu[0])
        raise_refusals(findings, study.source)

        spacing = canonical.GetSpacing() if canonical is not None and study.spacing_known else None
        midline = _body_midline(hu) if expects_hu else None
        labels, quality, split_ok = self._labels(lung_model, hu, midline)
        classes = SPLIT_LUNGS if self.options.split_lungs else BOTH_LUNGS
        in_hu = hu if expects_hu else None  # mean HU and density indices mean nothing on an export
        measurements = measure(labels, classes, in_hu, spacing, is_volume=study.is_volume)
        if not expects_hu and not study.is_volume:
            findings += check_radiograph_picture(hu[0], labels[0] > 0)
            raise_refusals(findings, study.source)
            findings += chest_ct_picture(hu[0], labels[0] > 0)
        findings += self._split_finding(split_ok)
        findings += check_result(labels, measurements, study.is_volume, spacing, midline)
        raise_refusals(findings, study.source)
        findings += check_anatomy(hu, labels, expects_hu, self.options.split_lungs)
        quality = apply_plausibility(quality, findings)
        burden = None
        if self.lesions:
            lung_classes = classes
            labels, classes, lesion_findings = self._add_lesions(hu, labels, spacing, classes, expects_hu)
            findings += lesion_findings
            measurements = measure(labels, classes, in_hu, spacing, is_volume=study.is_volume)
            burden = lesion_burden(labels, lung_classes, classes[len(lung_classes) :], spacing, study.is_volume)
        lung_name = (self.names[1] if lung_model is self.eight_bit else self.names[0]) if self.names else None
        names = tuple(name for name in (lung_name, *(model.name for model in self.lesions)) if name)
        return SegmentationResult(
            study,
            _on_input_grid(labels, canonical, study),
            labels,
            hu,
            spacing,
            classes,
            measurements,
            quality,
            findings,
            burden,
            names,
        )

    def _lung_model(self, stored: np.ndarray) -> Predictor:
        """The HU lung model, or its 8-bit variant for an 8-bit export (when there is one)."""
        if self.eight_bit is not None and self.predictor.plan.intensity == "hu" and intensity_kind(stored) == "8bit":
            return self.eight_bit
        return self.predictor

    def _add_lesions(self, stored: np.ndarray, lungs: np.ndarray, spacing, classes, in_hu: bool):
        """Run every lesion model inside the lungs, without solid lesions made of aerated lung
        (``lesion_density``); the merged label map, all its classes and the density findings."""
        found, findings = [], []
        for model in self.lesions:
            kept, dropped = drop_aerated(
                model.find(stored, lungs, spacing, self.lesion_options, self.tta),
                stored,
                lungs,
                model.classes,
                in_hu,
                spacing,
            )
            found.append(kept)
            findings += dropped
        lesion_classes = tuple(dict.fromkeys(label for model in self.lesions for label in model.classes))
        return merge_lesions(lungs, found), (*classes, *lesion_classes), findings

    def screen(self, image, source: str | Path | None = None, max_slices: int = 24) -> SegmentationResult:
        """A quick look before a long run (the web app's upload check): the same checks and model on
        every k-th slice of a volume (at most ``max_slices``, spacing scaled by k) without TTA. Raises
        ``InputError`` where ``segment`` would refuse (no lungs, X-ray, not HU, ...); its volumes are
        estimates and its quality means nothing. Lesion models are not run."""
        study = as_study(image, source)
        if study.is_volume and study.image.GetSize()[2] > max_slices:
            step = -(-study.image.GetSize()[2] // max_slices)
            study = replace(study, image=study.image[:, :, ::step])
        return self.replace(tta=False, lesions=()).segment(study)  # the lung checks only: lesions are not screened

    def _labels(self, model: Predictor, hu: np.ndarray, midline: float | None) -> tuple[np.ndarray, Quality, bool]:
        raw, agreement, confidence = self._raw_mask(model, hu)
        mask = postprocess(raw, self.options, hu)
        del raw
        quality = quality_scores(mask, agreement, confidence)
        if not self.options.split_lungs:
            return mask.astype(np.uint8), quality, True
        labels, split_ok = split_lungs(mask, midline)
        return labels, quality, split_ok

    def _raw_mask(self, model: Predictor, hu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Z, Y, X) HU -> bool mask on the input grid, per-slice flip agreement (Dice on the model grid)
        and per-slice confidence (mean |2p - 1| over the pixels called lung). No probability volume is
        kept, so memory stays at a few bytes per voxel."""
        threshold = model.threshold
        mask = np.empty(hu.shape, bool)
        agreement = np.ones(len(hu), np.float32)
        confidence = np.ones(len(hu), np.float32)
        for start, probabilities, batch_agreement in model.batches(hu, tta=self.tta):
            agreement[start : start + len(probabilities)] = batch_agreement
            for index, probability in enumerate(probabilities, start):
                mask[index] = probability > threshold
                called = probability[mask[index]]
                confidence[index] = float(np.abs(2 * called - 1).mean()) if called.size else 1.0
        return mask, agreement, confidence

    @staticmethod
    def _split_finding(split_ok: bool) -> list[Finding]:
        if split_ok:
            return []
        return [catalogue.LUNGS_JOINED()]


def _on_input_grid(labels: np.ndarray, canonical, study: Study):
    """Canonical (Z, Y, X) labels -> a SimpleITK image on the input's grid, or (H, W) for a slice."""
    if canonical is None:
        return labels[0]
    import SimpleITK as sitk

    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(canonical)
    return from_canonical(label_image, study.image)


def _body_midline(hu: np.ndarray) -> float | None:
    """Mean column of soft tissue and bone (> -300 HU): the body's left-right centre."""
    body = np.asarray(hu[:, ::4, ::4]) > -300
    if not body.any():
        return None
    return float(np.nonzero(body)[-1].mean() * 4)


__all__ = ["QUALITY_FLAG", "Choice", "SegmentationResult", "Segmenter"]
