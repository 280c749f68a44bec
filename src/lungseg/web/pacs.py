"""DICOM-SEG for the user's PACS: the SEG referencing the *original* study, series, instance and frame of
reference UIDs, so it overlays on the scan as the hospital stores it.

De-identification remaps every UID (``web.deid``). While it runs, the new-to-original mapping of the four
identifying UIDs of each file (``UID_KEYS``) is kept in the analysis folder (``uids.json``: UIDs only, no
names, IDs or dates), readable only through the owner's download, and deleted with the analysis. After
the job, ``write_pacs_seg`` copies the de-identified SEG and puts back the original of every UID found in
the mapping, wherever it occurs (the referenced series and instances, the source image of every frame,
the study and frame of reference). The SEG's own series and instance UIDs are new and stay so.

The trade-off, stated on the result page: this SEG links the analysis to the hospital's study by its UIDs;
it still carries the de-identified patient name and ID and the shifted dates, so a PACS may ask to
reconcile the patient when it is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

from lungseg.io import atomic_path

UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
MAP_FILE = "uids.json"
PACS_SEG = "labels_seg_pacs.dcm"


def remember(before: dict[str, str], dataset, mapping: dict[str, str]) -> None:
    """Add ``dataset``'s new UIDs (after de-identification) with their originals ``before`` to ``mapping``."""
    for key in UID_KEYS:
        new = str(getattr(dataset, key, "") or "")
        if new and before.get(key) and new != before[key]:
            mapping[new] = before[key]


def originals(dataset) -> dict[str, str]:
    """The identifying UIDs of a dataset before de-identification."""
    return {key: str(getattr(dataset, key)) for key in UID_KEYS if getattr(dataset, key, None)}


def write_map(folder: Path, mapping: dict[str, str]) -> Path:
    path = Path(folder) / MAP_FILE
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(mapping, sort_keys=True))
    return path


def write_pacs_seg(seg: Path, mapping_file: Path, out: Path) -> int:
    """``seg`` with every mapped UID put back to its original, written to ``out``; returns how many
    values were replaced (0 means the SEG referenced nothing of the upload: nothing is written)."""
    import pydicom

    mapping = json.loads(Path(mapping_file).read_text())
    dataset = pydicom.dcmread(seg)
    replaced = 0

    def restore(data, element) -> None:
        nonlocal replaced
        if element.VR != "UI" or element.value is None:
            return
        if element.VM > 1:
            values = [mapping.get(str(v), str(v)) for v in element.value]
            replaced += sum(str(a) != b for a, b in zip(element.value, values))
            element.value = values
        elif str(element.value) in mapping:
            element.value = mapping[str(element.value)]
            replaced += 1

    dataset.walk(restore)
    if replaced:
        with atomic_path(out) as temporary:
            dataset.save_as(temporary)
    return replaced
