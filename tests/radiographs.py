"""DICOM radiographs made from the real Montgomery chest X-rays, as DX/CR archives store them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def write_dx(
    path: Path,
    picture: np.ndarray,
    *,
    monochrome1: bool = False,
    bits: int = 12,
    window: tuple[float, float] | None = None,
    imager_spacing: float | None = 0.7,
    pixel_spacing: float | None = None,
    magnification: float | None = None,
    view: str = "PA",
    orientation: tuple[str, str] = ("L", "F"),
    modality: str = "DX",
) -> Path:
    """Store an 8-bit picture (bright = dense) as a DX DICOM of ``bits`` bits: the values are scaled to
    the full range and, with ``monochrome1``, inverted (bright = low values, as MONOCHROME1 stores them)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    top = 2**bits - 1
    values = np.rint(picture.astype(np.float64) / 255.0 * top).astype(np.uint16)
    if monochrome1:
        values = (top - values).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID, dataset.SOPInstanceUID = DX_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = generate_uid(), generate_uid()
    dataset.Modality, dataset.ViewPosition, dataset.PatientOrientation = modality, view, list(orientation)
    dataset.PatientName, dataset.PatientID = "Test^Radiograph", "XR0001"
    dataset.Rows, dataset.Columns = values.shape
    dataset.SamplesPerPixel, dataset.PixelRepresentation = 1, 0
    dataset.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, bits, bits - 1
    dataset.RescaleSlope, dataset.RescaleIntercept = 1, 0
    if window is not None:
        dataset.WindowCenter, dataset.WindowWidth = window
    if imager_spacing is not None:
        dataset.ImagerPixelSpacing = [imager_spacing, imager_spacing]
    if pixel_spacing is not None:
        dataset.PixelSpacing = [pixel_spacing, pixel_spacing]
    if magnification is not None:
        dataset.EstimatedRadiographicMagnificationFactor = magnification
    dataset.PixelData = values.tobytes()
    pydicom.dcmwrite(path, dataset, enforce_file_format=True)
    return path
