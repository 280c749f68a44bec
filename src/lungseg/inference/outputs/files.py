"""Files written for one segmented study: the label map, overlays and the JSON report.

Names derive from the mask path: ``<base>.nii.gz`` (or .nrrd/.png/.dcm), ``<base>_axial.png`` and
``<base>_coronal.png`` for volumes, ``<base>_overlay.png`` for 2D slices, ``<base>_report.json``.
Label values: 0 background, 1 right lung, 2 left lung, and with lesion models the lesion labels of the
``lungseg.labels`` table (3 infection, 4 ground-glass opacity, 5 consolidation, 6 tumour). A 2D PNG
lung mask keeps the 0/255 format of the training data (the overlay and report carry the sides); with
lesions it is an indexed PNG whose pixel values are the labels and whose palette holds their colours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lungseg.inference.core.result import SegmentationResult
from lungseg.inference.outputs.dicomseg import write_dicom_seg
from lungseg.inference.outputs.montage import axial_montage, coronal_montage
from lungseg.inference.outputs.report import StudyReport
from lungseg.io import write_mask_png, write_png, write_volume
from lungseg.io.atomic import StagedWrites
from lungseg.io.images2d import write_label_png
from lungseg.preprocessing.display import label_overlay, to_display, with_legend


def write_outputs(
    result: SegmentationResult,
    target,
    overlay: bool,
    report: bool,
    model_name: str,
    report_fields: dict,
    stage: StagedWrites,
) -> list[Path]:
    """Write the mask in ``target.format`` and, if asked, overlays and the report, each to its staged
    temporary path (``stage.commit()`` puts them in place); returns the final paths."""
    written = [_write_mask(result, target, model_name, stage)]
    if overlay:
        written += _write_overlays(result, target, stage)
    if report:
        path = target.sibling("_report.json")
        stage.write_text(path, json.dumps(build_report(result, target, written, report_fields), indent=2))
        written.append(path)
    return written


def _write_mask(result: SegmentationResult, target, model_name: str, stage: StagedWrites) -> Path:
    import SimpleITK as sitk

    labels = result.labels
    path = stage.path(target.mask)
    if target.format == "png" and result.lesions is not None:
        write_label_png(path, np.asarray(labels, np.uint8), {label.value: label.colour for label in result.classes})
    elif target.format == "png":  # the runner refused png for volumes before inference
        write_mask_png(path, np.asarray(labels) > 0)
    elif target.format == "dicom-seg":
        array = sitk.GetArrayFromImage(labels) if isinstance(labels, sitk.Image) else np.asarray(labels)[None]
        write_dicom_seg(path, array, result.study.dicom_files, model_name, result.classes)
    else:
        image = labels if result.study.is_volume else sitk.GetImageFromArray(np.asarray(labels))
        write_volume(path, sitk.Cast(image, sitk.sitkUInt8))
    return target.mask


def _write_overlays(result: SegmentationResult, target, stage: StagedWrites) -> list[Path]:
    banner = _banner(result)
    if not result.study.is_volume:
        path = target.sibling("_overlay.png")
        image = result.canonical_hu[0]
        thickness = max(1, round(max(image.shape) / 256))
        picture = label_overlay(
            to_display(image), result.canonical_labels[0], thickness=thickness, classes=result.classes
        )
        write_png(stage.path(path), _legend(picture, result))
        return [path]
    flagged = list(result.quality.flagged_slices)
    axial, coronal = target.sibling("_axial.png"), target.sibling("_coronal.png")
    write_png(
        stage.path(axial),
        _legend(
            axial_montage(result.canonical_hu, result.canonical_labels, flagged, banner, classes=result.classes), result
        ),
    )
    write_png(
        stage.path(coronal),
        _legend(
            coronal_montage(
                result.canonical_hu, result.canonical_labels, result.canonical_spacing, banner, classes=result.classes
            ),
            result,
        ),
    )
    return [axial, coronal]


def _legend(picture: np.ndarray, result: SegmentationResult) -> np.ndarray:
    """Lung + lesion overlays carry a legend strip (lung-only overlays keep the input's size)."""
    return with_legend(picture, result.classes) if result.lesions is not None else picture


def _banner(result: SegmentationResult) -> str | None:
    verdict = result.verdict
    if not verdict.reasons:
        return None
    return "CHECK: " + ", ".join(
        f"low quality {result.quality.score:.2f}" if r.code == "low-quality" else r.code for r in verdict.reasons
    )


def build_report(result: SegmentationResult, target, written: list[Path], fields: dict) -> dict:
    """Everything about one study as a JSON-able dict (``outputs.report.StudyReport``)."""
    return StudyReport.of(result, written, fields).to_dict()
