"""``ImageClassifier``: a trained classifier with its plan and temperature, applied to CT slice pictures.

``ImageClassifier.load("ct-cancer-type")`` (a shipped model) or ``.load("RUN/best.pt")``;
``.apply(path_or_picture)`` returns a ``ClassPrediction``: the calibrated probabilities of every class
(softmax of logits / T: for a shipped model measured on unseen scans the T of its scan-disjoint
cross-validation, ``NewScans``; else the T fitted on validation data at training time), the predicted
class, its calibrated confidence, the answer ("uncertain" below the abstention threshold), the
uncalibrated probabilities, and findings. ``.heat_map(picture, class)``
gives the Grad-CAM map on the picture's own grid.

Input checks: a CT volume is refused (the model saw single slices); HU or 16-bit pixels are refused
by the plan (it was trained on 8-bit exports); a picture that does not look like an axial chest CT
slice is *flagged* (``not-chest-ct``), judged with the CT lung model's 8-bit variant
(``data.lung_crop.lung_mask``, the lungs the lung-field crop uses too) by ``checks.chest_ct_picture``,
the one chest-CT picture check that ``--model auto`` and the CT segmenter also run: lung fields
(components touching the picture's edge are air around the body, not lungs) must cover at least
``checks.MIN_PICTURE_LUNG`` of the picture; they must be far darker than a ring of tissue around them
(``checks.lung_ring_ratio``: over ``checks.RADIOGRAPH_RATIO`` a radiograph, over
``checks.CT_LUNG_RATIO`` soft tissue such as an abdominal slice's bowel and bladder, which the 8-bit
lung model can take for lung); and they must be smooth fields rather than a texture cut into pieces
(``checks.raggedness``: EM sections and other textures). When the model's in-domain check also finds
the picture unlike its training pictures, the two agree and the picture is *refused*
(``input_findings``; ``ClassPrediction.answer`` "refused", no class given). Flag and refusal rates per
set are measured by ``benchmarks/classifier_input_check.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lungseg import findings as catalogue
from lungseg.errors import InputError
from lungseg.findings import Finding, Level
from lungseg.inference.core.checks import chest_ct_picture
from lungseg.inference.core.domain import check_domain, load_domain, prepared_input
from lungseg.io import VOLUME_SUFFIXES
from lungseg.io.shipped import resolve_model
from lungseg.metrics import softmax
from lungseg.preprocessing import Unmarked


@lru_cache(maxsize=1)
def _lung_models():
    from lungseg.inference.core.predictor import Predictor
    from lungseg.inference.routing.route import XRAY_MODEL

    return Predictor.load("ct-lung-8bit"), Predictor.load(XRAY_MODEL)


def radiograph_route(picture: np.ndarray) -> str | None:
    """Why the router (``routing.route``) surely sends the 8-bit ``picture`` to the chest X-ray model, or
    None when it does not (or is unsure)."""
    from lungseg.inference.core.study import as_study
    from lungseg.inference.routing.route import XRAY_MODEL, route

    chosen = route(as_study(picture), *_lung_models())
    return chosen.reason if chosen.model == XRAY_MODEL and chosen.sure else None


@dataclass(frozen=True)
class NewScans:
    """What a model is expected to do on scans it has never seen, from scan-disjoint cross-validation of
    its recipe (``benchmarks/classifier_scan_cv.py``; the manifest's ``new_scans``): the temperature
    and the abstention threshold fitted on the out-of-fold predictions, the expected accuracy and
    balanced accuracy, the accuracy and coverage of the answered pictures, and ``display_cap``: the
    highest confidence a display states (the accuracy of the most confident held-out predictions)."""

    temperature: float
    threshold: float
    accuracy: float
    balanced_accuracy: float
    answered_accuracy: float | None
    coverage: float
    command: str = ""
    display_cap: float = 0.99

    @classmethod
    def from_manifest(cls, entry: dict | None) -> NewScans | None:
        """The ``new_scans`` block of a manifest entry (None when it has none)."""
        if not entry:
            return None
        return cls(
            float(entry["temperature"]),
            float(entry["threshold"]),
            float(entry["expected_accuracy"]),
            float(entry["expected_balanced_accuracy"]),
            entry.get("expected_answered_accuracy"),
            float(entry["expected_coverage"]),
            str(entry.get("command", "")),
            float(entry.get("display_cap", 0.99)),
        )

    def note(self) -> str:
        return (
            f"expected accuracy on new scans: {100 * self.accuracy:.0f} % "
            f"(balanced {100 * self.balanced_accuracy:.0f} %; "
            f"scan-disjoint cross-validation on scans reconstructed from the pictures, without patient IDs, so "
            f"possibly optimistic); below a confidence of {100 * self.threshold:.0f} % the answer is 'uncertain'"
        )


@dataclass(frozen=True)
class ClassPrediction:
    """One picture's result; ``probabilities`` are calibrated (class name -> probability). With
    ``new_scans`` (shipped models measured on unseen scans) a confidence below its threshold makes the
    answer "uncertain"; the probabilities are still given."""

    source: str
    probabilities: dict[str, float]
    predicted: str
    confidence: float
    uncalibrated: dict[str, float]
    temperature: float
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    new_scans: NewScans | None = None

    @property
    def flagged(self) -> bool:
        return any(f.code in (catalogue.Code.NOT_CHEST_CT, catalogue.Code.OUT_OF_DOMAIN) for f in self.findings)

    @property
    def refused(self) -> Finding | None:
        """The refusal among the findings (an input unlike the training pictures by two checks, or far
        from all of them), or None."""
        return next((f for f in self.findings if f.level == Level.REFUSE), None)

    @property
    def uncertain(self) -> bool:
        return self.new_scans is not None and self.confidence < self.new_scans.threshold

    @property
    def answer(self) -> str:
        """The predicted class; "refused" for an input refused by the checks; "uncertain" when the model
        abstains."""
        return "refused" if self.refused else "uncertain" if self.uncertain else self.predicted

    def to_dict(self) -> dict:
        from lungseg.metrics.abstention import DISPLAY_CAP, shown_percent

        scans = self.new_scans
        cap = scans.display_cap if scans else DISPLAY_CAP
        return {
            "source": self.source,
            "answer": self.answer,
            "uncertain": self.uncertain,
            "predicted": self.predicted,
            "confidence": round(self.confidence, 4),
            "shown_confidence": shown_percent(self.confidence, cap),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "shown_probabilities": {k: shown_percent(v, cap) for k, v in self.probabilities.items()},
            "uncalibrated_probabilities": {k: round(v, 4) for k, v in self.uncalibrated.items()},
            "temperature": self.temperature,
            "flagged_not_chest_ct": self.flagged,
            "abstention_threshold": scans.threshold if scans else None,
            "display_cap": cap,
            "expected_accuracy_new_scans": scans.accuracy if scans else None,
            "expected_balanced_accuracy_new_scans": scans.balanced_accuracy if scans else None,
            "expected_note": scans.note() if scans else "not measured on unseen scans",
            "findings": [f.to_dict() for f in self.findings],
        }

    def line(self) -> str:
        """One line for people: the answer, shown confidence (never 100 %) and the probabilities."""
        from lungseg.metrics.abstention import DISPLAY_CAP, shown_percent

        if self.refused:
            return self.refused.message
        cap = self.new_scans.display_cap if self.new_scans else DISPLAY_CAP
        answer = f"uncertain (most likely {self.predicted})" if self.uncertain else self.predicted
        return f"{answer}: confidence {shown_percent(self.confidence, cap)}; " + ", ".join(
            f"{k} {shown_percent(v, cap)}" for k, v in self.probabilities.items()
        )


if TYPE_CHECKING:
    from lungseg.preprocessing.domain import DomainModel


class ImageClassifier:
    """A classifier checkpoint ready to run on ``device`` (auto: a CUDA GPU when present, else the CPU);
    ``check_inputs`` runs the chest-CT check."""

    def __init__(
        self,
        checkpoint,
        source: str | Path | None = None,
        check_inputs: bool = True,
        device: str = "auto",
        new_scans: NewScans | None = None,
    ):
        import torch

        from lungseg.models import model_from_checkpoint  # imports PyTorch
        from lungseg.models.device import resolve_device

        if checkpoint.card.task != "classification":
            raise InputError(source, f"model {checkpoint.card.spec.name!r} is a segmentation model, not a classifier")
        self.card, self.source = checkpoint.card, source
        self.device = resolve_device(device)
        self.model = model_from_checkpoint(checkpoint, source).to(self.device)
        self.class_names = tuple(self.card.class_names)
        self.new_scans = new_scans
        self.temperature = new_scans.temperature if new_scans else float(self.card.calibration.get("temperature", 1.0))
        self.check_inputs = check_inputs
        self.domain: DomainModel | None = None  # the in-domain check stored with a shipped classifier (set by ``load``)
        self._torch = torch

    @classmethod
    def load(cls, reference: str | Path, **kwargs) -> ImageClassifier:
        from lungseg.io.shipped import shipped_models
        from lungseg.models import load_checkpoint  # imports PyTorch

        entry = shipped_models().get(str(reference), {}) if "new_scans" not in kwargs else {}
        if entry.get("new_scans"):
            kwargs["new_scans"] = NewScans.from_manifest(entry["new_scans"])
        classifier = cls(load_checkpoint(resolve_model(reference)), source=reference, **kwargs)
        classifier.domain = load_domain(reference)
        return classifier

    def read(self, path: str | Path) -> Unmarked:
        """A picture file as the classifier reads it (``data.class_folders.read_picture``); a volume or a
        DICOM series folder is refused."""
        from lungseg.data.class_folders import read_picture  # lungseg.data imports PyTorch

        path = Path(path)
        if path.is_dir() or path.name.lower().endswith(VOLUME_SUFFIXES):
            raise InputError(
                path,
                "is a CT volume; this classifier was trained on single axial slice pictures "
                "(PNG/JPG exports), so it cannot label a whole scan: export the slice to classify",
            )
        return read_picture(path)

    def field(self, picture: np.ndarray):
        """The part of a picture the model sees: the lung-field box for models trained on lung crops
        (``data.lung_crop``), else the whole picture. Returns (that part, its box or None)."""
        if self.card.plan.field_of_view != "lungs" or np.asarray(picture).dtype != np.uint8:
            return np.asarray(picture), None
        from lungseg.data.lung_crop import lung_box  # lungseg.data imports PyTorch

        box = lung_box(np.asarray(picture))
        return box.crop(np.asarray(picture)), box

    def logits(self, pictures: list[np.ndarray], sources: list | None = None) -> np.ndarray:
        """(N, K) logits of gray pictures (cropped to the lungs when the model was trained so, then
        preprocessed by the checkpoint's plan)."""
        prepared = [
            self.card.plan.prepare(self.field(p)[0], (sources or [None] * len(pictures))[i])[0]
            for i, p in enumerate(pictures)
        ]
        return self._model_logits(np.stack(prepared))

    def _model_logits(self, prepared: np.ndarray) -> np.ndarray:
        """(N, S, S) model inputs -> (N, K) logits."""
        with self._torch.no_grad():
            return self.model(self._torch.from_numpy(prepared)[:, None].to(self.device)).float().cpu().numpy()

    def apply(self, picture: np.ndarray | Unmarked | str | Path, source: str | None = None) -> ClassPrediction:
        """One picture: a file (read by ``read``), a picture already read by ``read`` (an ``Unmarked``,
        with ``source`` naming it) or a gray array."""
        findings = []
        if isinstance(picture, (str, Path)):
            source, picture = str(picture), self.read(picture)
        if isinstance(picture, Unmarked):
            if picture.marked_fraction > 0:
                findings.append(catalogue.MARKS_PAINTED(percent=100 * picture.marked_fraction))
            picture = picture.gray
        logits = self.logits([picture], [source])
        calibrated, raw = softmax(logits, self.temperature)[0], softmax(logits)[0]
        best = int(np.argmax(calibrated))
        if self.check_inputs:
            findings += self.input_findings(np.asarray(picture), source)
        return ClassPrediction(
            source or "<array>",
            dict(zip(self.class_names, map(float, calibrated))),
            self.class_names[best],
            float(calibrated[best]),
            dict(zip(self.class_names, map(float, raw))),
            self.temperature,
            tuple(findings),
            self.new_scans,
        )

    def input_findings(self, picture: np.ndarray, source: str | None = None) -> list[Finding]:
        """``check_picture`` and ``check_domain`` together. Each alone flags (a warning); when both say the
        picture is unlike an axial chest CT slice of the training set (a microscopy image, a bright chest
        film), one refusal replaces their two warnings; so does a picture unlike the training pictures
        that the lung-model router (``routing.route``, ``--model auto``'s one rule) surely sends to the
        chest X-ray model (a film whose lungs are dark enough to pass the picture check). Refused:
        ``ClassPrediction.refused``, and the web upload is refused before a job is queued. Rates on own
        and foreign pictures: ``benchmarks/classifier_input_check.py``."""
        picture_findings = self.check_picture(picture)
        domain_findings = self.check_domain(picture, source)
        unlike = [f for f in domain_findings if f.code == catalogue.Code.OUT_OF_DOMAIN and f.level == Level.WARN]
        if unlike and picture.dtype == np.uint8 and (film := radiograph_route(picture)) is not None:
            return [catalogue.RADIOGRAPH_FOR_CLASSIFIER(why=film)]
        if picture_findings and unlike:
            refusal = catalogue.NOT_CHEST_CT_REFUSED(
                picture=picture_findings[0].message, domain=unlike[0].message.removesuffix(": the result may be wrong")
            )
            return [refusal] + [f for f in domain_findings if f not in unlike]
        return picture_findings + domain_findings

    def check_picture(self, picture: np.ndarray) -> list[Finding]:
        """Whether a gray 8-bit picture shows an axial chest CT slice: ``checks.chest_ct_picture`` (the
        check and thresholds the ``auto`` router and the CT segmenter use) on the lungs of
        ``data.lung_crop.lung_mask``."""
        from lungseg.data.lung_crop import lung_mask  # lungseg.data imports PyTorch

        if picture.dtype != np.uint8:
            return []  # HU input is refused by the plan before this
        return chest_ct_picture(picture, lung_mask(picture))

    def check_domain(self, picture: np.ndarray, source: str | None = None) -> list[Finding]:
        """The classifier's in-domain check (``core.domain``, stored with the shipped model) on the
        model input of ``picture``: a warning when it is unlike the training pictures, a refusal when far."""
        if self.domain is None:
            return []
        prepared = prepared_input(self.card, self.field(picture)[0], source)
        name = str(self.source) if self.source else self.card.spec.name
        return check_domain(self.domain, name, self.card, [prepared]).findings()

    def heat_map(self, picture: np.ndarray, class_name: str | None = None) -> np.ndarray:
        """Grad-CAM heat map (H, W) float32 in [0, 1] on the picture's own grid for ``class_name`` (the
        predicted class when None)."""
        from lungseg.inference.classify.gradcam import grad_cam  # imports PyTorch

        part, field = self.field(picture)
        prepared, letterbox = self.card.plan.prepare(part)
        index = (
            int(np.argmax(self._model_logits(prepared[None])[0]))
            if class_name is None
            else self.class_names.index(class_name)
        )
        heat = self.card.plan.restore(grad_cam(self.model, prepared, index), letterbox).astype(np.float32)
        return heat if field is None else field.paste(heat, np.asarray(picture).shape)
