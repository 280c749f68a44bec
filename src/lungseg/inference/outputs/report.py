"""``StudyReport``: the JSON report of one segmented study as a frozen, typed object. ``lungseg predict``
and the web worker write it (``outputs.files``), the web app reads it back (``read_report``), and
``to_dict`` gives the JSON, key for key as before this type existed (no version field: the format did
not change, so every report written before reads with ``from_dict``).

Units, one per measure (the values are rounded as shown and stay so, byte for byte):

- lungs (``measurements``): ``volume_ml`` mL with 1 decimal (volumes), ``area_cm2`` cm^2 with 2 decimals
  (slices and films with a pixel spacing), ``mean_hu`` with 1 decimal, density percentages with 2;
- lesions (``lesions``): ``volume_ml`` mL with 2 decimals (volumes), ``area_mm2`` mm^2 with 1 decimal
  (slices: lesions are small), ``percent_of_lung``/``percent_affected`` with 2 decimals, tumour
  diameters in mm with 1 decimal (pixels without spacing);
- nodules (``nodules``, with a nodule model or points): ``NoduleMeasures.to_dict()`` per nodule (volume
  mm^3 with 1 decimal and mL with 3, axes in mm with 1 decimal, HU with 1), model probability with 3;
- ``voxels`` (pixels on a slice) always; ``seconds`` with 2 decimals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lungseg.findings import Finding
from lungseg.inference.core.lesion_burden import LesionBurden
from lungseg.inference.core.measure import Measurements, RegionMeasurement
from lungseg.inference.core.nodule_rows import NoduleRow
from lungseg.inference.core.quality import Quality
from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.core.study import Study
from lungseg.inference.core.verdict import Verdict
from lungseg.labels import LabelClass, from_legend, legend

VOLUME_FIELDS = ("size", "spacing_mm", "origin_mm", "direction", "spacing_known")


@dataclass(frozen=True)
class ReportInput:
    """What was segmented: ``kind`` "volume" or "slice"; ``size`` (x, y[, z]); for a volume its geometry;
    for a DICOM radiograph the header facts (``radiograph``: view, pixel spacing and its source, ...)."""

    path: str
    kind: str
    modality: str | None
    dicom_files: int
    size: tuple[int, ...]
    spacing_mm: tuple[float, ...] | None = None
    origin_mm: tuple[float, ...] | None = None
    direction: tuple[float, ...] | None = None
    spacing_known: bool | None = None
    radiograph: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, study: Study) -> ReportInput:
        path, modality, files = str(study.source), study.modality, len(study.dicom_files)
        facts = study.radiograph
        radiograph = None
        if facts is not None:
            radiograph = {
                "view_position": facts.view,
                "pixel_spacing_mm": list(facts.pixel_spacing_mm or []) or None,
                "spacing_source": facts.spacing_source,
                "photometric": facts.photometric,
                "voi": facts.voi,
                "patient_orientation_columns": facts.row_direction,
            }
        if not study.is_volume:
            size = tuple(int(n) for n in np.asarray(study.image).shape[:2][::-1])
            return cls(path, "slice", modality, files, size, radiograph=radiograph)
        image = study.volume
        return cls(
            path,
            "volume",
            modality,
            files,
            tuple(image.GetSize()),
            tuple(image.GetSpacing()),
            tuple(image.GetOrigin()),
            tuple(image.GetDirection()),
            study.spacing_known,
            radiograph,
        )

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "modality": self.modality,
            "dicom_files": self.dicom_files,
        }
        if self.kind == "volume":
            values.update({name: _plain(getattr(self, name)) for name in VOLUME_FIELDS})
        else:
            values["size"] = list(self.size)
        if self.radiograph is not None:
            values["radiograph"] = dict(self.radiograph)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ReportInput:
        def numbers(name: str) -> tuple | None:
            return tuple(values[name]) if values.get(name) is not None else None

        return cls(
            values.get("path", ""),
            values.get("kind", "slice"),
            values.get("modality"),
            int(values.get("dicom_files", 0)),
            tuple(values.get("size", ())),
            numbers("spacing_mm"),
            numbers("origin_mm"),
            numbers("direction"),
            values.get("spacing_known"),
            values.get("radiograph"),
        )


@dataclass(frozen=True)
class StudyReport:
    """One study's report (module docstring for the units). ``model_run``: the segmenter's own fields
    (model spec, backend, where it runs, threshold, TTA, post-processing), in the report's order;
    ``classes``: the label classes of the label map (the report's ``labels`` legend); ``models``: the
    networks that made it (lung model first); ``verdict`` None only in reports from before verdicts;
    ``nodules`` None when no nodule model ran (no ``nodules`` key)."""

    lungseg_version: str
    model: str
    model_run: Mapping[str, Any]
    disclaimer: str
    seconds: float
    input: ReportInput
    outputs: tuple[str, ...]
    classes: tuple[LabelClass, ...]
    models: tuple[str, ...]
    measurements: Measurements
    lesions: LesionBurden | None
    findings: tuple[Finding, ...]
    quality: Quality
    status: str
    verdict: Verdict | None
    nodules: tuple[NoduleRow, ...] | None = None

    @classmethod
    def of(cls, result: SegmentationResult, outputs: Sequence[Path | str], header: Mapping[str, Any]) -> StudyReport:
        """The report of ``result`` with the header of ``pipeline.report_header`` (its ``started`` gives
        the seconds) and the files written."""
        fixed = ("lungseg_version", "model", "started", "disclaimer")
        return cls(
            header["lungseg_version"],
            header["model"],
            {key: value for key, value in header.items() if key not in fixed},
            header["disclaimer"],
            round(time.perf_counter() - header["started"], 2),
            ReportInput.of(result.study),
            tuple(str(path) for path in outputs),
            tuple(result.classes),
            tuple(result.models),
            result.measurements,
            result.lesions,
            tuple(result.findings),
            result.quality,
            "flagged" if result.flagged else "ok",
            result.verdict,
            result.nodules,
        )

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"lungseg_version": self.lungseg_version, "model": self.model}
        values.update(self.model_run)
        values["disclaimer"] = self.disclaimer
        values["seconds"] = self.seconds
        values["input"] = self.input.to_dict()
        values["outputs"] = list(self.outputs)
        values["labels"] = legend(self.classes)
        if self.models:
            values["models"] = list(self.models)
        values["measurements"] = self.measurements.to_dict()
        if self.lesions is not None:
            values["lesions"] = self.lesions.to_dict()
        if self.nodules is not None:
            values["nodules"] = [nodule.to_dict() for nodule in self.nodules]
        values["findings"] = [finding.to_dict() for finding in self.findings]
        values["quality"] = self.quality.to_dict()
        values["status"] = self.status
        if self.verdict is not None:
            values["verdict"] = self.verdict.to_dict()
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StudyReport:
        keys = list(values)
        first, last = keys.index("model") + 1, keys.index("disclaimer")
        classes = from_legend(values.get("labels", {}))
        measured = values.get("measurements", {})
        regions = tuple((label, RegionMeasurement.from_dict(measured.get(label.key, {}))) for label in classes)
        lesions = values.get("lesions")
        verdict = values.get("verdict")
        nodules = values.get("nodules")
        return cls(
            values.get("lungseg_version", ""),
            values["model"],
            {key: values[key] for key in keys[first:last]},
            values["disclaimer"],
            values.get("seconds", 0.0),
            ReportInput.from_dict(values.get("input", {})),
            tuple(values.get("outputs", ())),
            classes,
            tuple(values.get("models", ())),
            Measurements(regions, RegionMeasurement.from_dict(measured.get("total", {"voxels": 0}))),
            LesionBurden.from_dict(lesions, classes) if lesions is not None else None,
            tuple(Finding.from_dict(finding) for finding in values.get("findings", ())),
            Quality.from_dict(values["quality"]),
            values.get("status", ""),
            Verdict.from_dict(verdict) if verdict is not None else None,
            tuple(NoduleRow.from_dict(row) for row in nodules) if nodules is not None else None,
        )


def read_report(path: Path) -> StudyReport:
    return StudyReport.from_dict(json.loads(Path(path).read_text()))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
