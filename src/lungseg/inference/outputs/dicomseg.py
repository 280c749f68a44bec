"""DICOM Segmentation output (highdicom): a binary SEG with one segment per label class present (coded
with the class's SNOMED CT concept) that references the source CT series, so a PACS or viewer places it
on the original slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lungseg import __version__
from lungseg.errors import InputError
from lungseg.io import atomic_path
from lungseg.labels import LabelClass


def write_dicom_seg(
    path: str | Path, labels: np.ndarray, source_files: list[Path], model_name: str, classes: tuple[LabelClass, ...]
) -> Path:
    """``labels``: (Z, Y, X) uint8 on the source grid, slice k belonging to ``source_files[k]``;
    ``classes``: the label classes, each with a SNOMED CT code."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    if not source_files:
        raise InputError(path, "--format dicom-seg needs a DICOM source series (the input is not DICOM)")
    if len(source_files) != len(labels):
        raise InputError(path, f"{len(labels)} mask slices but {len(source_files)} source DICOM files")
    sources = [pydicom.dcmread(file, stop_before_pixels=True) for file in source_files]
    algorithm = hd.AlgorithmIdentificationSequence(
        name="lungseg", version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    present = [label for label in classes if np.any(labels == label.value)]
    if not present:
        raise InputError(path, "the mask is empty; a DICOM SEG needs at least one segment")
    segment_numbers = np.zeros(256, np.uint8)  # segments are numbered 1..N: renumber when a lung is absent
    descriptions = []
    for number, label in enumerate(present, start=1):
        if label.snomed is None:
            raise InputError(path, f"label class {label.name!r} has no SNOMED CT code for a DICOM SEG")
        code, name = label.snomed
        segment_numbers[label.value] = number
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name,
                segmented_property_category=hd.sr.CodedConcept(label.category[0], "SCT", label.category[1]),
                segmented_property_type=hd.sr.CodedConcept(code, "SCT", name),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
            )
        )
    segmentation = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segment_numbers[labels.astype(np.uint8)],
        segmentation_type="BINARY",
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=9001,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="lungseg",
        manufacturer_model_name=model_name,
        software_versions=__version__,
        device_serial_number="none",
        series_description=f"lungseg {model_name}",
        omit_empty_frames=True,
    )
    with atomic_path(path) as temporary:
        segmentation.save_as(temporary)
    return Path(path)
