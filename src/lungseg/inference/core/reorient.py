"""Canonical orientation for inference and back.

``to_canonical`` gives an LPS image (X to the patient's left, Y posterior, Z superior) whose array
(Z, Y, X) holds axial slices in radiological display (patient right on the image left), inferior first.
Axis-aligned input is only permuted and flipped (exact); oblique input, or input whose in-plane spacing
differs between rows and columns after reformatting (sagittal/coronal acquisitions), is resampled to
an axis-aligned grid with square in-plane pixels. ``from_canonical`` puts a label map back on the input
grid with nearest-neighbour sampling, so spacing, origin and direction are the input's own.
"""

from __future__ import annotations

import numpy as np

from lungseg.io.limits import check_size


def to_canonical(image, source=None):
    """``source`` names the input in the error raised when resampling would need too large a grid."""
    import SimpleITK as sitk

    direction = np.array(image.GetDirection()).reshape(3, 3)
    x, y, _ = image.GetSpacing()
    if np.allclose(direction, np.eye(3)) and abs(x - y) <= 0.1 * min(x, y):
        return image  # already canonical: no copy
    if np.max(np.abs(direction), axis=0).min() >= 0.99:
        oriented = sitk.DICOMOrient(image, "LPS")
        x, y, _ = oriented.GetSpacing()
        if abs(x - y) <= 0.1 * min(x, y):
            return oriented
    return _resample_axial(image, source)


def from_canonical(labels, reference):
    """Label image on the canonical grid -> the same labels on ``reference``'s grid (uint8)."""
    import SimpleITK as sitk

    if (
        labels.GetSize() == reference.GetSize()
        and np.allclose(labels.GetDirection(), reference.GetDirection())
        and np.allclose(labels.GetOrigin(), reference.GetOrigin())
    ):
        return labels
    return sitk.Resample(labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _resample_axial(image, source=None):
    """Axis-aligned LPS grid covering the image, in-plane spacing = finest input spacing; a grid larger
    than ``MAX_VOLUME_VOXELS`` (extreme spacing ratios) is refused before it is allocated."""
    import SimpleITK as sitk

    size = np.array(image.GetSize())
    corners = [
        image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
        for corner in np.array(np.meshgrid(*[[-0.5, s - 0.5] for s in size])).reshape(3, -1).T
    ]
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    # in plane: the finest input spacing (square pixels); through plane: the spacing of the input axis
    # closest to the patient's long axis (an oblique axial keeps its slice spacing, a sagittal acquisition
    # its in-plane spacing)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    in_plane = min(image.GetSpacing())
    through = image.GetSpacing()[int(np.argmax(np.abs(direction[2])))]
    spacing = np.array([in_plane, in_plane, max(through, in_plane)])
    new_size = np.maximum(1, np.ceil((high - low) / spacing).astype(np.int64))
    check_size(new_size, source, "volume", claim=f"resampling to an axial grid at {spacing.round(4).tolist()} mm needs")
    origin = low + spacing / 2
    return sitk.Resample(
        image,
        [int(v) for v in new_size],
        sitk.Transform(),
        sitk.sitkLinear,
        [float(v) for v in origin],
        [float(v) for v in spacing],
        [1, 0, 0, 0, 1, 0, 0, 0, 1],
        -1024.0,
        image.GetPixelID(),
    )
