"""Web uploads (``lungseg.web.uploads`` / ``archive``) and DICOM de-identification (``lungseg.web.deid``)
on real data: the POPI chest CT series (71 files) and kmader TIFF slices from ../shared/data.

What matters for a public upload form: an accepted upload is stored under generated names and reads
back exactly as the original (same series, size and spacing); a refused one says why in one line, with
the right HTTP status, and leaves nothing on disk (not even a partial folder), whatever the client or
the archive claims about names and sizes. De-identification must remove the identifying values from
the bytes of every file while keeping the series one series with unchanged pixels and geometry.
"""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from conftest import shared
from lungseg.io import read_dicom_series
from lungseg.web.deid import deidentify_dicom_folder
from lungseg.web.uploads import UploadLimits, UploadRefused, stage_upload

LIMITS = UploadLimits()


@pytest.fixture(scope="module")
def popi_dicom() -> Path:
    return shared("ct-volume-popi", "dicom")


@pytest.fixture(scope="module")
def popi_files(popi_dicom) -> list[Path]:
    return sorted(popi_dicom.iterdir())


@pytest.fixture(scope="module")
def popi_image(popi_dicom):
    """The series as lungseg reads it from the shared folder: the reference for every staged copy."""
    return read_dicom_series(popi_dicom).image


def upload(paths, names=None):
    """(client name, stream) pairs as the web layer passes them (streams are opened lazily)."""
    names = names or [path.name for path in paths]
    return ((name, open(path, "rb")) for name, path in zip(names, paths, strict=True))


def memory(*pairs):
    return [(name, io.BytesIO(data)) for name, data in pairs]


def assert_same_series(folder: Path, reference) -> None:
    image = read_dicom_series(folder).image
    assert image.GetSize() == reference.GetSize()
    assert np.allclose(image.GetSpacing(), reference.GetSpacing())
    assert np.allclose(image.GetOrigin(), reference.GetOrigin())


def refuse(files, tmp_path: Path, limits: UploadLimits = LIMITS) -> UploadRefused:
    """Stage into tmp_path/uploads/dest, expect a refusal, and check that nothing was left behind."""
    parent = tmp_path / "uploads"
    with pytest.raises(UploadRefused) as caught:
        stage_upload(files, parent / "dest", limits)
    assert list(parent.iterdir()) == [], "a refused upload must leave no folder and no partial file"
    reason = caught.value.reason
    assert reason and "\n" not in reason and "Traceback" not in reason
    return caught.value


def make_zip(path: Path, entries, compression=zipfile.ZIP_DEFLATED) -> Path:
    """entries: (arcname or ZipInfo, bytes or source Path)."""
    with zipfile.ZipFile(path, "w", compression, compresslevel=1) as archive:
        for name, data in entries:
            if isinstance(data, Path):
                archive.write(data, name)
            else:
                archive.writestr(name, data)
    return path


# --- accepted uploads ------------------------------------------------------------------------------


def test_dicom_files_are_staged_as_one_series(tmp_path, popi_files, popi_image):
    """71 POPI files sent as separate files: stored as 0001.dcm... and read back as the same volume."""
    staged = stage_upload(upload(popi_files), tmp_path / "dest", LIMITS)
    assert staged.kind == "dicom-series" and staged.path == tmp_path / "dest"
    assert staged.files == len(popi_files) == 71
    assert sorted(p.name for p in staged.path.iterdir()) == [f"{i:04d}.dcm" for i in range(1, 72)]
    assert staged.original_name == f"{popi_files[0].name} and 70 more"
    assert_same_series(staged.path, popi_image)
    assert [p.name for p in tmp_path.iterdir()] == ["dest"], "the staging folder is renamed into place"


def test_dicom_zip_is_flattened_and_junk_skipped(tmp_path, popi_files, popi_image):
    """A zip of the series in nested folders, with macOS and DICOMDIR junk and a README: only the 71
    DICOM files are kept, flattened under generated names, and the zip itself is removed."""
    entries = [(f"patient/study 1/series/{path.name}", path) for path in popi_files]
    entries += [
        ("__MACOSX/patient/._00-slice000.dcm", b"\0" * 300),
        ("patient/.DS_Store", b"junk"),
        ("DICOMDIR", popi_files[0]),
        ("patient/README", b"exported by a viewer"),
        ("empty/", b""),
    ]
    archive = make_zip(tmp_path / "series.zip", entries)
    staged = stage_upload(upload([archive]), tmp_path / "dest", LIMITS)
    assert (staged.kind, staged.files, staged.original_name) == ("dicom-series", 71, "series.zip")
    assert sorted(p.name for p in staged.path.iterdir()) == [f"{i:04d}.dcm" for i in range(1, 72)]
    assert_same_series(staged.path, popi_image)


def test_zip_detected_by_content_without_suffix(tmp_path, popi_files):
    """A zip sent without a .zip suffix is recognised by its signature (and DICOM inside by its preamble)."""
    archive = make_zip(tmp_path / "noname", [(f"x/{p.stem}", p) for p in popi_files[:3]])
    staged = stage_upload(upload([archive], ["export"]), tmp_path / "dest", LIMITS)
    assert (staged.kind, staged.files) == ("dicom-series", 3)


def test_nifti_upload_and_nifti_in_a_zip(tmp_path, popi_small):
    """One NIfTI is a volume stored as input.nii.gz; a zip holding only that NIfTI is the same."""
    staged = stage_upload(upload([popi_small], ["Scan Of Patient.NII.GZ"]), tmp_path / "a", LIMITS)
    assert (staged.kind, staged.path.name, staged.files) == ("volume", "input.nii.gz", 1)
    assert sitk.ReadImage(str(staged.path)).GetSize() == sitk.ReadImage(str(popi_small)).GetSize()

    archive = make_zip(tmp_path / "vol.zip", [("folder/ct.nii.gz", popi_small), ("__MACOSX/folder/._ct.nii.gz", b"x")])
    staged = stage_upload(upload([archive]), tmp_path / "b", LIMITS)
    assert (staged.kind, staged.path.name, staged.original_name) == ("volume", "input.nii.gz", "vol.zip")
    assert staged.path.read_bytes() == popi_small.read_bytes()


def test_tiff_slice(tmp_path):
    """A kmader TIFF slice is a slice stored as slice.tif with the same bytes."""
    source = sorted(shared("ct-lung-kmader", "images").glob("*.tif"))[0]
    staged = stage_upload(upload([source]), tmp_path / "dest", LIMITS)
    assert (staged.kind, staged.path, staged.files) == ("slice", tmp_path / "dest" / "slice.tif", 1)
    assert staged.path.read_bytes() == source.read_bytes()


def test_folder_upload_junk_is_skipped(tmp_path, popi_files):
    """A browser folder upload also sends .DS_Store, ._ files and DICOMDIR: skipped, not refused; an
    upload of nothing but junk is refused (415)."""
    junk = memory(("scan/.DS_Store", b"junk"), ("scan/._0001.dcm", b"\0" * 200), ("scan/DICOMDIR", b"x" * 200))
    staged = stage_upload([*junk, *upload(popi_files[:2])], tmp_path / "dest", LIMITS)
    assert (staged.kind, staged.files) == ("dicom-series", 2)
    assert staged.original_name == f"{popi_files[0].name} and 1 more"
    error = refuse(memory(("Thumbs.db", b"x"), (".DS_Store", b"x")), tmp_path)
    assert error.status == 415 and "no usable file" in error.reason


def test_client_names_are_never_paths(tmp_path, popi_files):
    """'../../etc/passwd.dcm' and friends are stored as 0001.dcm... inside dest; nothing is written
    anywhere else, and only a cleaned last component is kept for display."""
    names = ["../../etc/passwd.dcm", "/abs/x.dcm", "C:\\Windows\\evil\nname.dcm"]
    root = tmp_path / "root"
    staged = stage_upload(upload(popi_files[:3], names), root / "uploads" / "dest", LIMITS)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "uploads",
        "uploads/dest",
        "uploads/dest/0001.dcm",
        "uploads/dest/0002.dcm",
        "uploads/dest/0003.dcm",
    ]
    assert staged.original_name == "passwd.dcm and 2 more"


def test_dest_may_exist_empty_but_not_full(tmp_path, popi_files):
    (tmp_path / "empty").mkdir()
    assert stage_upload(upload(popi_files[:1]), tmp_path / "empty", LIMITS).files == 1
    with pytest.raises(ValueError):
        stage_upload(upload(popi_files[:1]), tmp_path / "empty", LIMITS)


# --- refused uploads ------------------------------------------------------------------------------


class Endless(io.RawIOBase):
    """An endless stream of zeros that counts what was read (a client that never stops sending)."""

    def __init__(self):
        self.read_bytes = 0

    def read(self, size=-1):
        size = 1 << 20 if size is None or size < 0 else size
        self.read_bytes += size
        return b"\0" * size


def test_oversize_stops_at_the_limit(tmp_path, popi_files):
    """Over max_total_bytes: 413 as soon as the count passes the limit (an endless stream is cut off
    after one chunk beyond it), and the files already written are deleted."""
    limits = UploadLimits(max_total_bytes=3 << 20)
    stream = Endless()
    error = refuse([*upload(popi_files[:2]), ("big.dcm", stream)], tmp_path, limits)
    assert error.status == 413 and "3 MiB" in error.reason
    assert stream.read_bytes <= (3 << 20) + (1 << 20)
    assert refuse(upload(popi_files[:8]), tmp_path, limits).status == 413


def test_too_many_zero_and_empty_files(tmp_path, popi_files):
    limits = UploadLimits(max_files=3)
    error = refuse(upload(popi_files[:5]), tmp_path, limits)
    assert error.status == 413 and "at most 3" in error.reason
    assert "no file" in refuse([], tmp_path).reason
    assert "empty" in refuse([*upload(popi_files[:1]), ("b.dcm", io.BytesIO())], tmp_path).reason


@pytest.mark.parametrize("name", ["setup.exe", "notes.txt", "scan.mhd", "README"])
def test_unsupported_types_are_415(tmp_path, name):
    """Unknown suffixes (and suffix-less files that are not DICOM by content) are 415 with the accepted list."""
    error = refuse(memory((name, b"MZ this is not an image" * 10)), tmp_path)
    assert error.status == 415 and name in error.reason
    assert ".nii.gz" in error.reason or ".mha" in error.reason


def test_mixed_uploads_are_refused(tmp_path, popi_files, popi_small):
    """One upload is one series, one zip, one volume or one slice: every mix is refused (400)."""
    zipped = make_zip(tmp_path / "a.zip", [("a.dcm", popi_files[0])])
    for paths, names in [
        ([popi_small, popi_files[0]], ["v.nii.gz", "a.dcm"]),
        ([popi_files[0], popi_small], ["a.dcm", "v.nii.gz"]),
        ([popi_small, popi_small], ["v.nii.gz", "w.nii"]),
        ([zipped, popi_files[0]], ["a.zip", "b.dcm"]),
        ([zipped, zipped], ["a.zip", "b.zip"]),
    ]:
        error = refuse(upload(paths, names), tmp_path)
        assert error.status == 400 and "cannot join" in error.reason
    inner_mix = make_zip(tmp_path / "mix.zip", [("v.nii.gz", popi_small), ("a.dcm", popi_files[0])])
    assert "cannot join" in refuse(upload([inner_mix]), tmp_path).reason


def test_zip_bomb_and_size_limits(tmp_path, popi_files):
    """50 MB of zeros in one entry expands ~1000x: refused (413) before anything is unpacked; the declared
    total and the entry count are checked against the limits too."""
    bomb = make_zip(tmp_path / "bomb.zip", [("zeros.dcm", bytes(50 << 20))])
    error = refuse(upload([bomb]), tmp_path)
    assert error.status == 413 and "bomb" in error.reason
    series = make_zip(tmp_path / "s.zip", [(p.name, p) for p in popi_files[:4]])
    error = refuse(upload([series]), tmp_path, UploadLimits(max_uncompressed_bytes=1 << 20))
    assert error.status == 413 and "unpacks" in error.reason
    error = refuse(upload([series]), tmp_path, UploadLimits(max_files=3))
    assert error.status == 413 and "at most 3" in error.reason


def test_zip_lying_about_sizes_is_not_trusted(tmp_path, popi_files):
    """An entry whose declared size is patched down to 1000 bytes passes the screening, but unpacking
    never takes the header's word: the data that does not match it is refused as damaged."""
    archive = make_zip(tmp_path / "lie.zip", [(popi_files[0].name, popi_files[0])], zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    start = data.index(b"PK\x01\x02")  # the central directory entry: uncompressed size at +24
    data[start + 24 : start + 28] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    error = refuse(upload([archive]), tmp_path, UploadLimits(max_uncompressed_bytes=100_000))
    assert error.status == 400 and "damaged" in error.reason


@pytest.mark.parametrize("entry", ["../evil.dcm", "/abs.dcm", "a/../../evil.dcm", "C:/evil.dcm", "a\\..\\evil.dcm"])
def test_zip_slip_is_refused(tmp_path, popi_files, entry):
    """Absolute, drive-letter and '..' entry names refuse the whole zip (writestr keeps them as given)."""
    archive = make_zip(tmp_path / "slip.zip", [("ok.dcm", popi_files[0]), (entry, popi_files[1].read_bytes())])
    error = refuse(upload([archive]), tmp_path)
    assert error.status == 400 and "unsafe path" in error.reason
    assert not (tmp_path / "evil.dcm").exists()


def test_symlink_and_encrypted_entries_are_refused(tmp_path, popi_files):
    link = zipfile.ZipInfo("link.dcm")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "link.zip", [("ok.dcm", popi_files[0]), (link, b"/etc/passwd")])
    assert "symbolic link" in refuse(upload([archive]), tmp_path).reason

    archive = make_zip(tmp_path / "locked.zip", [("ok.dcm", b"secret" * 100)], zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())  # set the "encrypted" flag bit in both headers
    data[data.index(b"PK\x03\x04") + 6] |= 1
    data[data.index(b"PK\x01\x02") + 8] |= 1
    archive.write_bytes(bytes(data))
    assert "password" in refuse(upload([archive]), tmp_path).reason


def test_damaged_and_useless_zips(tmp_path, popi_files):
    assert "damaged" in refuse(memory(("x.zip", b"PK\x03\x04 not really a zip" * 20)), tmp_path).reason
    data = bytearray(make_zip(tmp_path / "crc.zip", [("a.dcm", popi_files[0])], zipfile.ZIP_STORED).read_bytes())
    data[2000] ^= 0xFF  # corrupt the stored data: the CRC check fails while reading
    assert "damaged" in refuse(memory(("crc.zip", bytes(data))), tmp_path).reason
    junk_only = make_zip(tmp_path / "junk.zip", [("notes.txt", b"hello"), ("__MACOSX/._a", b"x")])
    error = refuse(upload([junk_only]), tmp_path)
    assert error.status == 415 and "no usable file" in error.reason


# --- de-identification ----------------------------------------------------------------------------

IDENTIFYING = {
    "PatientName": "Doe^Jane",
    "PatientID": "12345",
    "PatientBirthDate": "19610417",
    "AccessionNumber": "ACC778899",
    "InstitutionName": "Saint Example Hospital",
    "StudyDate": "20231105",
    "StudyDescription": "CT chest for Jane Doe",
}
GEOMETRY = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "RescaleSlope",
    "RescaleIntercept",
    "Modality",
    "Rows",
    "Columns",
)


@pytest.fixture()
def patched_three(tmp_path, popi_files) -> tuple[Path, list]:
    """Three POPI files carrying identifying values and a private tag; returns the folder and the
    original datasets."""
    folder = tmp_path / "three"
    folder.mkdir()
    originals = []
    for index, source in enumerate(popi_files[:3]):
        dataset = pydicom.dcmread(source)
        for keyword, value in IDENTIFYING.items():
            setattr(dataset, keyword, value)
        dataset.private_block(0x0011, "ACME PRIVATE 1.0", create=True).add_new(0x01, "LO", "Jane Doe 12345")
        dataset.save_as(folder / f"{index + 1:04d}.dcm")
        originals.append(pydicom.dcmread(folder / f"{index + 1:04d}.dcm"))
    return folder, originals


def test_deidentify_removes_identifiers_and_keeps_the_series(patched_three):
    """No identifying value survives in the bytes of any file (names, IDs, dates, institution, private
    text, original UIDs); UIDs are remapped consistently across files; pixels and geometry are unchanged."""
    folder, originals = patched_three
    before = [path.read_bytes() for path in sorted(folder.iterdir())]
    assert all(b"Doe" in raw and b"12345" in raw for raw in before)
    assert deidentify_dicom_folder(folder, salt="secret-analysis-1") == 3

    forbidden = [
        b"Doe",
        b"12345",
        b"19610417",
        b"ACC778899",
        b"Example",
        b"20231105",
        b"ACME",
        originals[0].StudyInstanceUID.encode(),
        originals[0].SeriesInstanceUID.encode(),
    ]
    after = [pydicom.dcmread(path) for path in sorted(folder.iterdir())]
    for path in sorted(folder.iterdir()):
        raw = path.read_bytes()
        assert not [value for value in forbidden if value in raw], path.name
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "no temporary file is left"
    for old, new in zip(originals, after, strict=True):
        assert not any(tag.is_private for tag in new.keys())
        assert new.PixelData == old.PixelData
        for keyword in GEOMETRY:
            assert new.get(keyword) == old.get(keyword), keyword
        assert new.SOPInstanceUID != old.SOPInstanceUID
        assert new.file_meta.MediaStorageSOPInstanceUID == new.SOPInstanceUID
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert len({ds.get(keyword) for ds in after}) == 1, keyword
    assert len({ds.SOPInstanceUID for ds in after}) == 3


def test_deidentify_same_salt_same_mapping(tmp_path, popi_files):
    """The UID mapping depends on the salt only: the same salt maps the same file identically, another
    salt differently (so analyses salted apart cannot be linked by UID)."""
    uids = []
    for run, salt in enumerate(["a", "a", "b"]):
        folder = tmp_path / str(run)
        folder.mkdir()
        shutil.copy(popi_files[0], folder / "0001.dcm")
        deidentify_dicom_folder(folder, salt=salt)
        uids.append(pydicom.dcmread(folder / "0001.dcm").SeriesInstanceUID)
    assert uids[0] == uids[1] != uids[2]


def test_deidentified_popi_reads_as_the_same_series(tmp_path, popi_dicom, popi_image):
    """The whole real series (71 files, with a malformed private tag that pydicom cannot decode) after
    de-identification: one series, same size, spacing, origin, direction and HU values."""
    folder = shutil.copytree(popi_dicom, tmp_path / "popi")
    assert deidentify_dicom_folder(folder, salt="s") == 71
    series = read_dicom_series(folder)
    assert series.findings == []
    assert series.image.GetDirection() == popi_image.GetDirection()
    assert_same_series(folder, popi_image)
    assert np.array_equal(sitk.GetArrayViewFromImage(series.image), sitk.GetArrayViewFromImage(popi_image))


def test_deidentify_refuses_non_dicom(tmp_path, popi_files):
    """A file that is not DICOM cannot be de-identified: refused in one line, never kept as is."""
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(popi_files[0], folder / "0001.dcm")
    (folder / "0002.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(UploadRefused) as caught:
        deidentify_dicom_folder(folder, salt="s")
    assert "0002.dcm" in caught.value.reason
