"""Hostile uploads against the io layer: text headers that point ITK at other files, NIfTI headers
that make us skip or inflate gigabytes, deflated DICOM. Each is refused (or read within bounds) in well
under a second, and no error message shows bytes of a file the upload pointed at."""

from __future__ import annotations

import math
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import shared
from lungseg.errors import InputError
from lungseg.io import nifti, read_dicom_header, read_dicom_series, read_dicom_slice, read_volume

SECRET = b"SECRET-0123456789-SECRET"  # the "server file" a header points at
META = b"ObjectType = Image\nNDims = 3\nDimSize = 2 1 1\nElementType = MET_SHORT\n"
NRRD = b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 1 1\nendian: little\nencoding: raw\n"
ARRAY = np.arange(24, dtype=np.int16).reshape(2, 3, 4)


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.raw"
    path.write_bytes(SECRET)
    return path


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(InputError) as caught:
        read_volume(path)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "SECRET" not in message and "0123" not in message, message
    for value in np.frombuffer(SECRET[:8], "<i2"):  # the voxel values ITK would have read
        assert str(int(value)) not in message, message
    return message


# --- MetaImage / NRRD data outside the file ----------------------------------------------------------


@pytest.mark.parametrize("reference", ["absolute", "relative", "list", "colon", "named like LOCAL"])
def test_metaimage_pointing_at_another_file_is_refused(tmp_path, secret, reference):
    folder = tmp_path / "upload"
    folder.mkdir()
    line = {
        "absolute": f"ElementDataFile = {secret}",
        "relative": "ElementDataFile = ../secret.raw",
        "list": f"ElementDataFile = LIST\n{secret}",
        "colon": f"ElementDataFile : {secret}",
        "named like LOCAL": "ElementDataFile = Local.raw",
    }[reference]
    if reference == "named like LOCAL":
        (folder / "Local.raw").write_bytes(SECRET)
    victim = folder / "x.mha"
    victim.write_bytes(META + line.encode() + b"\n")
    _refused(victim, "x.mha", "detached")


@pytest.mark.parametrize(
    "header",
    [
        # MetaIO reads the value of a line up to "\n" only: the first "ElementDataFile" is inside a comment
        META + b"Comment = a\rElementDataFile = LOCAL\nElementDataFile = %s\n",
        # MetaIO takes the separator of a line without one from the next line: LOCAL becomes Foo's value
        META + b"Foo\nElementDataFile = LOCAL\nElementDataFile = %s\n",
        # MetaIO skips any white space before a field name, form feed included
        META + b"\x0cElementDataFile = %s\n",
        # a C string ends at NUL: MetaIO sees the name "ElementDataFile"
        META + b"ElementDataFile\x00x = %s\n",
    ],
)
def test_metaimage_header_tricks_are_refused(tmp_path, secret, header):
    victim = tmp_path / "x.mha"
    victim.write_bytes(header % str(secret).encode())
    _refused(victim, "x.mha")


@pytest.mark.parametrize(
    "field",
    [
        "data file: {}",
        "datafile: {}",
        "DATA FILE: {}",
        "data file: LIST\n{}",
        "data file: ../secret.raw",
        "data\tfile: {}",
    ],
)
def test_nrrd_with_a_data_file_is_refused(tmp_path, secret, field):
    folder = tmp_path / "upload"
    folder.mkdir()
    victim = folder / "x.nrrd"
    victim.write_bytes(NRRD + field.format(secret).encode() + b"\n")
    _refused(victim, "x.nrrd", "detached")


def test_nrrd_with_carriage_return_lines_is_refused(tmp_path, secret):
    victim = tmp_path / "x.nrrd"
    victim.write_bytes((NRRD + f"data file: {secret}\n".encode()).replace(b"\n", b"\r"))
    _refused(victim, "detached")


@pytest.mark.parametrize("suffix", [".mhd", ".nhdr"])
def test_detached_header_suffixes_are_refused(tmp_path, suffix):
    victim = tmp_path / f"x{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(ARRAY), str(victim))  # ITK writes x.raw / x.raw.gz beside it
    _refused(victim, "detached header (data in another file) is not supported", ".nii.gz")


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".nii"])
def test_a_file_is_read_only_by_the_reader_of_its_suffix(tmp_path, secret, suffix):
    """A MetaImage header under another suffix is read (and refused) by that suffix's reader, never MetaIO."""
    victim = tmp_path / f"x{suffix}"
    victim.write_bytes(META + f"ElementDataFile = {secret}\n".encode())
    _refused(victim, f"x{suffix}")


@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
@pytest.mark.parametrize("compressed", [False, True])
def test_self_contained_mha_and_nrrd_still_read(tmp_path, suffix, compressed):
    path = tmp_path / f"ok{suffix}"
    image = sitk.GetImageFromArray(ARRAY)
    image.SetSpacing((0.7, 0.8, 2.5))
    sitk.WriteImage(image, str(path), useCompression=compressed)
    read = read_volume(path)
    assert np.array_equal(sitk.GetArrayFromImage(read), ARRAY)
    assert np.allclose(read.GetSpacing(), (0.7, 0.8, 2.5))


def test_nifti_beside_its_uncompressed_twin_is_refused(tmp_path):
    """NIfTI's reader opens x.nii when asked for x.nii.gz: the header checks would be of the wrong file."""
    sitk.WriteImage(sitk.GetImageFromArray(ARRAY), str(tmp_path / "x.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(ARRAY * 0 + 9), str(tmp_path / "x.nii"))
    _refused(tmp_path / "x.nii.gz", "x.nii beside it")


# --- NIfTI: vox_offset and trailing data ---------------------------------------------------------------


def _nifti_bytes(folder: Path, array: np.ndarray) -> bytes:
    """An uncompressed single-file NIfTI-1 of ``array`` (header, 4-byte extension flag, voxels)."""
    path = folder / "written.nii"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    data = path.read_bytes()
    path.unlink()
    return data


def _gzip_with_zeros(path: Path, head: bytes, zeros: int) -> Path:
    """``head`` followed by ``zeros`` zero bytes, gzip-compressed a megabyte at a time (about 1000x)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(head)]
    block = bytes(1 << 20)
    for _ in range(zeros >> 20):
        parts.append(packer.compress(block))
    parts.append(packer.flush())
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.parametrize("offset", [500_000_000.0, 0.0, 100.0, -352.0, math.nan, math.inf])
def test_absurd_vox_offset_is_refused_without_reading(tmp_path, offset):
    raw = bytearray(_nifti_bytes(tmp_path, ARRAY))
    raw[108:112] = struct.pack("<f", offset)
    victim = _gzip_with_zeros(tmp_path / "offset.nii.gz", bytes(raw), 64 << 20)
    assert victim.stat().st_size < 200_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = _refused(victim, "vox_offset")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0 and peak < 16 << 20, (message, peak)


@pytest.fixture
def counted_reads(monkeypatch) -> list[int]:
    """Bytes read (after inflation) through each handle ``lungseg.io.nifti`` opens."""
    counts: list[int] = []
    opener = nifti._open

    class Counting:
        def __init__(self, handle):
            self.handle, self.count = handle, 0

        def read(self, size=-1):
            block = self.handle.read(size)
            self.count += len(block)
            return block

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            counts.append(self.count)
            self.handle.close()

    monkeypatch.setattr(nifti, "_open", lambda path: Counting(opener(path)))
    return counts


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_trailing_gzip_bomb_is_never_inflated(tmp_path, counted_reads, dtype):
    """200 MB of zeros after the voxels (a 200 kB file): reading stops where the header says the data ends."""
    array = ARRAY.astype(dtype)
    if dtype == "float32":
        array[1, 2, 3] = np.nan  # the NaN path reads the voxels a second time, itself
    raw = _nifti_bytes(tmp_path, array)
    victim = _gzip_with_zeros(tmp_path / "bomb.nii.gz", raw, 200 << 20)
    assert victim.stat().st_size < 400_000
    started = time.perf_counter()
    read = sitk.GetArrayFromImage(read_volume(victim))
    assert time.perf_counter() - started < 2.0
    assert np.array_equal(read, array, equal_nan=True)
    assert counted_reads and max(counted_reads) <= len(raw) + nifti.CHUNK, (counted_reads, len(raw))


def test_nifti_header_claiming_too_many_bytes_is_refused(tmp_path):
    """Four axes within the voxel limit one by one, far beyond it together (the 4th axis counts too)."""
    raw = bytearray(_nifti_bytes(tmp_path, ARRAY))
    raw[40:50] = struct.pack("<5h", 4, 1000, 1000, 200, 30000)
    victim = _gzip_with_zeros(tmp_path / "big.nii.gz", bytes(raw), 8 << 20)
    _refused(victim, "header claims")


# --- DICOM: deflated transfer syntax ---------------------------------------------------------------


@pytest.fixture
def deflated(tmp_path) -> Path:
    """A real POPI slice re-saved deflated, its pixel data swapped for 64 MB of zeros (a 70 kB file)."""
    import pydicom

    source = sorted(p for p in shared("ct-volume-popi", "dicom").iterdir() if p.is_file())[0]
    dataset = pydicom.dcmread(source)
    dataset.remove_private_tags()  # POPI's private tags cannot be re-encoded as explicit VR
    dataset.Rows, dataset.Columns = 4096, 8192
    dataset.PixelData = bytes(4096 * 8192 * 2)
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    folder = tmp_path / "series"
    folder.mkdir()
    dataset.save_as(folder / "slice.dcm", enforce_file_format=True)
    assert (folder / "slice.dcm").stat().st_size < 200_000  # pydicom deflated it on save
    return folder / "slice.dcm"


@pytest.mark.parametrize("reader", ["header", "slice", "series"])
def test_deflated_dicom_is_refused_before_inflating(deflated, reader):
    read = {
        "header": lambda: read_dicom_header(deflated),
        "slice": lambda: read_dicom_slice(deflated),
        "series": lambda: read_dicom_series(deflated.parent),
    }[reader]
    read_dicom_header(shared("ct-volume-popi", "dicom", "00-slice000.dcm"))  # imports and pydicom's dictionary
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="deflated DICOM is not supported") as caught:
            read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "slice.dcm" in str(caught.value) and peak < 32 << 20, peak
