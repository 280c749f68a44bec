"""DICOM-SEG for the user's PACS (``web.pacs``) on the real POPI series: de-identification records the new ->
original UIDs (UIDs only), and the SEG written on the de-identified series gets the original study, series,
instance and frame-of-reference UIDs back in every reference, its own UIDs and the de-identified patient kept."""

from __future__ import annotations

import json
import re

import numpy as np
import pydicom

from lungseg.inference.outputs.dicomseg import write_dicom_seg
from lungseg.labels import SPLIT_LUNGS
from lungseg.web import pacs
from lungseg.web.deid import deidentify_dicom_folder
from test_web_uploads import popi_dicom  # noqa: F401  (the real POPI series in ../shared)


def test_the_pacs_seg_references_the_original_series(tmp_path, popi_dicom):
    files = sorted(popi_dicom.iterdir())[30:34]
    folder = tmp_path / "series"
    folder.mkdir()
    for path in files:  # POPI has no patient name: give it one, as a hospital's series has
        dataset = pydicom.dcmread(path)
        dataset.PatientName, dataset.PatientID = "Doe^Jane", "PID-73311"
        dataset.save_as(folder / path.name)
    uids: dict[str, str] = {}
    deidentify_dicom_folder(folder, salt="secret", uids=uids)
    originals = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]  # the shared files, unchanged
    copies = [pydicom.dcmread(folder / p.name, stop_before_pixels=True) for p in files]
    for before, after in zip(originals, copies):
        for key in pacs.UID_KEYS:
            assert uids[str(getattr(after, key))] == str(getattr(before, key))
    stored = pacs.write_map(tmp_path, uids)
    text = stored.read_text()
    uid = re.compile(r"[0-9]+(\.[0-9]+)+")
    assert all(uid.fullmatch(k) and uid.fullmatch(v) for k, v in json.loads(text).items())  # UIDs only

    labels = np.zeros((len(files), int(copies[0].Rows), int(copies[0].Columns)), np.uint8)
    labels[:, 200:260, 150:210] = 1
    seg = write_dicom_seg(tmp_path / "seg.dcm", labels, [folder / p.name for p in files], "ct-lung", SPLIT_LUNGS)
    replaced = pacs.write_pacs_seg(seg, stored, tmp_path / "pacs.dcm")
    plain, restored = pydicom.dcmread(seg), pydicom.dcmread(tmp_path / "pacs.dcm")
    assert replaced >= 2 * len(files)  # the referenced instances and each frame's source image at least
    assert restored.StudyInstanceUID == originals[0].StudyInstanceUID
    assert restored.FrameOfReferenceUID == originals[0].FrameOfReferenceUID
    series = restored.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == originals[0].SeriesInstanceUID
    assert {str(i.ReferencedSOPInstanceUID) for i in series.ReferencedInstanceSequence} == {
        str(o.SOPInstanceUID) for o in originals
    }
    sources = {
        str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        for frame in restored.PerFrameFunctionalGroupsSequence
    }
    assert sources <= {str(o.SOPInstanceUID) for o in originals}
    assert restored.SOPInstanceUID == plain.SOPInstanceUID and restored.SeriesInstanceUID == plain.SeriesInstanceUID
    assert restored.PatientName == plain.PatientName != "Doe^Jane"  # the patient stays de-identified
    assert restored.PatientID == plain.PatientID != "PID-73311"
    assert np.array_equal(restored.pixel_array, plain.pixel_array)
