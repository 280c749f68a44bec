"""De-identification of an uploaded DICOM folder (DICOM PS3.15 Annex E basic profile, as far as headers go).

dicognito does the bulk: every person name, listed ID (patient, accession, study, ...), institution and
address is replaced, dates and times are shifted back by 62-730 days, and every UID except class and
transfer-syntax UIDs is remapped. Its mapping depends only on the seed (here the caller's ``salt``) and
the original value, so all files of an upload keep one study, one series and one frame of reference,
and MediaStorageSOPInstanceUID still equals SOPInstanceUID. Added here, because dicognito keeps them:
private tags and overlay/curve groups (60xx, 50xx) are removed first, and the basic profile's free-text
descriptions, comments and patient characteristics are removed afterwards, with birth date and sex
emptied. Pixel data and geometry (ImagePositionPatient, ImageOrientationPatient, PixelSpacing,
SliceThickness, RescaleSlope/Intercept, Modality) are not touched. Text burned into the pixels is not
detected.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword

from lungseg.web import pacs
from lungseg.web.uploads import UploadRefused

REMOVED = (
    "AdditionalPatientHistory",
    "AdmittingDiagnosesDescription",
    "Allergies",
    "DerivationDescription",
    "DeviceSerialNumber",
    "EthnicGroup",
    "ImageComments",
    "MedicalAlerts",
    "OtherPatientIDsSequence",
    "PatientAge",
    "PatientBirthTime",
    "PatientComments",
    "PatientSize",
    "PatientState",
    "PatientWeight",
    "PerformedProcedureStepDescription",
    "ProtocolName",
    "ReasonForTheRequestedProcedure",
    "RequestAttributesSequence",
    "RequestedProcedureDescription",
    "SeriesDescription",
    "StudyComments",
    "StudyDescription",
    # further PS3.15 Table E.1-1 attributes that carry free text or identifiers (found by review)
    "AcquisitionComments",
    "FrameComments",
    "VisitComments",
    "ReasonForStudy",
    "AdmissionID",
    "SpecialNeeds",
    "PatientTransportArrangements",
    "PatientInstitutionResidence",
    "ScheduledProcedureStepDescription",
    "InterpretationText",
    "ServiceEpisodeDescription",
    "SmokingStatus",
    "PerformedStationName",
    "ReferringPhysicianTelephoneNumbers",
    "ClinicalTrialSubjectID",
    "ClinicalTrialSponsorName",
    "DetectorID",
    "GantryID",
    "SourceSerialNumber",
    "TimezoneOffsetFromUTC",
    "TextValue",
    "ContentSequence",
    "PatientTelephoneNumbers",
    "PatientAddress",
    "MilitaryRank",
    "BranchOfService",
    "Occupation",
    "PregnancyStatus",
    "LastMenstrualDate",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "PatientReligiousPreference",
    "CountryOfResidence",
    "RegionOfResidence",
    "PatientMotherBirthName",
    "ConfidentialityConstraintOnPatientDataDescription",
    "ImagePresentationComments",
    "IconImageSequence",
)
EMPTIED = ("PatientBirthDate", "PatientSex")
_REMOVED_TAGS = frozenset(tag_for_keyword(keyword) for keyword in REMOVED)
_EMPTIED_TAGS = frozenset(tag_for_keyword(keyword) for keyword in EMPTIED)


def deidentify_dicom_folder(folder: Path, salt: str, uids: dict[str, str] | None = None) -> int:
    """De-identify every file directly in ``folder`` in place; returns how many files changed. ``uids``:
    when given, filled with each new study/series/instance/frame-of-reference UID -> its original
    (``web.pacs``: the SEG for the user's PACS).

    Each file is rewritten through a temporary file and ``os.replace``, so none is ever half-written.
    The same ``salt`` gives the same UIDs and date shift; use a secret, per-upload salt. A file that
    cannot be read or de-identified raises ``UploadRefused``: the caller must then discard the folder,
    as files before it are already rewritten and the one that failed still holds its original header.
    """
    from dicognito.anonymizer import Anonymizer

    if not salt:
        raise ValueError("a non-empty salt is needed (it keys the UID mapping and the date shift)")
    anonymizer = Anonymizer(seed=salt)
    changed = 0
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        _refuse_deflated(path)
        original = path.read_bytes()
        try:
            dataset = pydicom.dcmread(io.BytesIO(original), force=True)
            if "SOPClassUID" not in dataset:  # Type 1 in every DICOM object; force=True reads any bytes
                raise ValueError("no SOPClassUID")
            _strip_private(dataset)
            before = pacs.originals(dataset)
            anonymizer.anonymize(dataset)
            if uids is not None:
                pacs.remember(before, dataset, uids)
            dataset.walk(_basic_profile)
            buffer = io.BytesIO()
            dataset.save_as(buffer)
        except Exception as error:  # noqa: BLE001 - any failure must refuse the upload, in one line
            raise UploadRefused(
                f"'{path.name}' could not be de-identified as DICOM ({type(error).__name__}); the upload was not kept"
            ) from error
        if buffer.getvalue() != original:
            temporary = path.with_name(f".tmp-{path.name}")
            temporary.write_bytes(buffer.getvalue())
            os.replace(temporary, path)
            changed += 1
    return changed


def _refuse_deflated(path: Path) -> None:
    """Deflated transfer syntax inflates without bound when read (a 300 KB file became 900 MB): refuse it
    from the file meta alone, before the dataset is read."""
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # no readable file meta: the full read below decides
        return
    if str(getattr(meta, "TransferSyntaxUID", "")) == str(pydicom.uid.DeflatedExplicitVRLittleEndian):
        raise UploadRefused(
            f"'{path.name}' uses the deflated DICOM transfer syntax, which is not accepted; "
            "export it uncompressed or with JPEG/JPEG 2000 compression",
            415,
        )


def _strip_private(dataset: pydicom.Dataset) -> None:
    """Remove private tags and overlay/curve groups at every level, without decoding them first (real
    files carry malformed private values that pydicom cannot convert, and dicognito converts all)."""
    for tag in list(dataset.keys()):
        if tag.is_private or 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
            del dataset[tag]
        elif (dataset.get_item(tag).VR or _known_vr(tag)) == "SQ":
            for item in dataset[tag].value or []:
                _strip_private(item)


def _known_vr(tag) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _basic_profile(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
    if element.tag in _REMOVED_TAGS:
        del dataset[element.tag]
    elif element.tag in _EMPTIED_TAGS:
        element.value = ""
