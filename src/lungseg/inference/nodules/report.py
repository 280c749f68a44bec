"""What ``lungseg nodule`` writes: the label map (lungs and nodules) on the study's grid, ``nodules.json``
and one overlay per nodule (its measured slice, the nodule tinted, the long axis drawn), all through
temporary files renamed into place."""

from __future__ import annotations

import json
from pathlib import Path

from lungseg.inference.nodules.growth import Growth
from lungseg.inference.nodules.seeded import NoduleResult
from lungseg.inference.nodules.study import NoduleStudy
from lungseg.io.atomic import write_text_atomic
from lungseg.io.images2d import write_png
from lungseg.io.volumes import write_volume
from lungseg.labels import NODULE, SPLIT_LUNGS
from lungseg.preprocessing.display import label_overlay, to_display, with_legend
from lungseg.screening import DISCLAIMER

LUNG_RADS_NOTE = (
    "Lung-RADS v2022 size category of a baseline screen from the measured size and HU type only; growth, "
    "morphology, category 4X and the S modifier are the reading radiologist's"
)


def nodule_report(result: NoduleStudy, model: str) -> dict:
    return {
        "source": str(result.study.source) if result.study.source else None,
        "model": model,
        "spacing_mm": {"z": result.spacing[0], "y": result.spacing[1], "x": result.spacing[2]},
        "hu": result.in_hu,
        "lungs": "segmented" if result.lungs is not None else result.lung_note,
        "labels": {str(c.value): c.name for c in (*SPLIT_LUNGS, NODULE)},
        "nodules": [n.to_dict() for n in result.nodules],
        **({} if result.candidates is None else {"candidates": _candidates(result)}),
        "lung_rads_note": LUNG_RADS_NOTE,
        "warnings": list(result.warnings),
        "disclaimer": DISCLAIMER,
    }


def _candidates(result: NoduleStudy) -> dict:
    found = result.candidates
    assert found is not None  # nodule_report calls this only with candidates
    return {
        "found": [c.to_dict() for c in found.found],
        "removed_as_aerated_lung": found.removed_aerated,
        "removed_under_3_mm": found.removed_small,
        "note": "automatic candidates, highest probability first: false positives (vessels, scars) are expected; "
        "each needs a reader's decision",
    }


def write_nodule_outputs(result: NoduleStudy, out: Path, model: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_labels(result, out)]
    for number, nodule in enumerate(result.nodules, 1):
        if nodule.found:
            z = nodule.measures.diameters.slice_index if nodule.measures else nodule.seed.z
            written.append(_write_overlay(result, z, (nodule.seed.x, nodule.seed.y), out / f"nodule-{number}.png"))
    for number, candidate in enumerate(result.candidates.found if result.candidates else (), 1):
        z, y, x = candidate.centre
        written.append(_write_overlay(result, z, (x, y), out / f"candidate-{number}.png"))
    report = out / "nodules.json"
    write_text_atomic(report, json.dumps(nodule_report(result, model), indent=1) + "\n")
    return [report, *written]


def _write_labels(result: NoduleStudy, out: Path) -> Path:
    labels = result.label_map()
    if result.study.is_volume:
        import SimpleITK as sitk  # deferred: heavy, only volumes need it

        image = sitk.GetImageFromArray(labels)
        image.CopyInformation(result.study.image)
        target = out / "labels.nii.gz"
        write_volume(target, image)
        return target
    target = out / "labels.png"
    write_png(target, labels[0])
    return target


def _write_overlay(result: NoduleStudy, z: int, point: tuple[int, int], target: Path) -> Path:
    import cv2

    gray = to_display(result.array[z])
    picture = label_overlay(gray, result.label_map()[z], classes=(*SPLIT_LUNGS, NODULE))
    cv2.drawMarker(picture, point, (255, 255, 255), cv2.MARKER_CROSS, 9, 1)
    picture = with_legend(picture, (*SPLIT_LUNGS, NODULE))
    write_png(target, picture)
    return target


def growth_report(old: NoduleResult, new: NoduleResult, change: Growth) -> dict:
    return {"old": old.to_dict(), "new": new.to_dict(), "growth": change.to_dict(), "disclaimer": DISCLAIMER}


def summary_lines(result: NoduleStudy) -> list[str]:
    """One line per nodule for the CLI."""
    lines = []
    for number, nodule in enumerate(result.nodules, 1):
        where = f"x={nodule.seed.x} y={nodule.seed.y} z={nodule.seed.z}"
        if not nodule.found:
            lines.append(f"nodule {number} at {where}: {nodule.reason}")
            continue
        m = nodule.to_dict()
        kind = f", {m['type']}, mean {m['mean_hu']} HU, Lung-RADS {m['lung_rads']}" if m["type"] else ""
        lines.append(
            f"nodule {number} at {where}: {m['volume_mm3']} mm³ ({m['volume_ml']} mL), {m['long_axis_mm']} x "
            f"{m['short_axis_mm']} mm over {m['slices']} slices{kind}; confidence {m['confidence']:.2f}"
        )
        lines.extend(f"  warning: {w}" for w in nodule.warnings)
    return (
        lines + [f"warning: {w}" for w in result.warnings] + ([f"note: {result.lung_note}"] if result.lung_note else [])
    )
