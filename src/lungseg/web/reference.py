"""A reference mask uploaded with the scan (a radiologist's or another tool's lung outline) and the
result's agreement with it: Dice and IoU for the lungs together and, when the reference is a label map
with lungseg's values (1 right lung, 2 left lung, ...), per class.

The reference must be on the scan's grid: a NIfTI/NRRD/MHA volume of the same size for a volume (DICOM
series included: the label map lungseg writes is on the series' grid), a PNG/TIFF of the same height and
width for a slice or radiograph. Any value above 0 is foreground ("lungs"); the prediction's lungs are
every label but the airways (lesions lie inside the lungs). Empty reference and empty prediction score
1.0, as in ``lungseg.metrics`` (the empty-mask rule). A reference that cannot be read is refused at upload;
one of another size gives a stated problem on the result page, not a job failure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lungseg.errors import InputError
from lungseg.labels import AIRWAY, TABLE, label_class
from lungseg.metrics.functional import dice, iou

FOLDER = "reference"
SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".png", ".tif", ".tiff")
MAX_CLASSES = 8  # a reference with more distinct values is not a label map of lungseg's classes


def accepts(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def read_reference(path: Path) -> np.ndarray:
    """The reference's stored values: (Z, Y, X) for a volume file, (H, W) for a picture. ``InputError``
    names the file and the problem."""
    if not accepts(path.name):
        raise InputError(path, f"a reference mask must be one of {', '.join(SUFFIXES)}")
    if path.name.lower().endswith((".png", ".tif", ".tiff")):
        from lungseg.io.masks import read_mask_array

        values = read_mask_array(path)
        if values.ndim != 2:
            raise InputError(path, f"a reference picture must be one gray channel, got shape {values.shape}")
        return values
    import SimpleITK as sitk

    from lungseg.io import read_volume

    return sitk.GetArrayFromImage(read_volume(path))


def agreement(labels: np.ndarray, reference: np.ndarray, name: str) -> dict:
    """``labels``: the result's label map on the scan's grid; ``reference``: its values on the same grid.
    -> {"file", "lungs": {"dice", "iou"}, "classes": [{"name", "dice", "iou"}]} or {"file", "problem"}."""
    labels, reference = np.asarray(labels), np.squeeze(np.asarray(reference))
    if labels.shape != reference.shape:
        return {
            "file": name,
            "problem": f"the reference is {_size(reference.shape)} but the scan is {_size(labels.shape)}: "
            "it must be on the scan's grid",
        }
    predicted = (labels > 0) & (labels != AIRWAY.value)
    truth = reference > 0
    out: dict = {"file": name, "lungs": _scores(predicted, truth), "classes": []}
    values = [int(v) for v in np.unique(reference) if v > 0]
    known = {c.value for c in TABLE}
    if 1 < len(values) <= MAX_CLASSES and all(float(v).is_integer() and v in known for v in values):
        for value in sorted(set(values) | {int(v) for v in np.unique(labels) if v in values}):
            scores = _scores(labels == value, reference == value)
            out["classes"].append({"name": label_class(value).name, **scores})
    return out


def _scores(predicted: np.ndarray, truth: np.ndarray) -> dict:
    return {"dice": round(dice(predicted, truth), 4), "iou": round(iou(predicted, truth), 4)}


def _size(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape[::-1])  # width x height (x slices), as people say it
