"""The anatomy findings and the quality halving, fired by real scans altered the way real patients and
archives differ: a header spacing off by a factor, a white-out lung, a rotated acquisition."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from lungseg.inference import Segmenter
from lungseg.inference.core.postprocess import LEFT_LUNG, RIGHT_LUNG
from lungseg.inference.core.quality import QUALITY_FLAG
from lungseg.labels import LEFT_LUNG as LEFT_LUNG_CLASS


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.from_pretrained("ct-lung", tta=True)


@pytest.fixture(scope="module")
def clean(segmenter, popi_small):
    image = sitk.ReadImage(str(popi_small))
    return image, segmenter.segment(image)


def _codes(result) -> set[str]:
    return {finding.code for finding in result.findings}


def test_clean_scan_is_plausible(clean):
    _, result = clean
    assert result.quality.plausible and result.quality.score >= QUALITY_FLAG
    assert not _codes(result) & {"missing-lung", "implausible-volume", "lungs-joined"}


def test_spacing_twice_too_large_gives_implausible_volumes_and_halves_quality(segmenter, clean):
    image, reference = clean
    scaled = sitk.Image(image)
    scaled.SetSpacing([2 * v for v in image.GetSpacing()])  # still a valid CT spacing: 8x the volume
    result = segmenter.segment(scaled)
    assert "implausible-volume" in _codes(result)
    assert result.measurements.total.volume_ml == pytest.approx(8 * reference.measurements.total.volume_ml, rel=0.01)
    assert not result.quality.plausible
    assert result.quality.score == pytest.approx(reference.quality.flip_agreement / 2, abs=0.01)
    assert result.quality.flagged and result.flagged


def test_white_out_left_lung_is_missing_and_flagged(segmenter, clean):
    """The left lung filled with soft tissue (as in a total white-out or after pneumonectomy)."""
    image, reference = clean
    hu = sitk.GetArrayFromImage(image).copy()
    left = ndimage.binary_dilation(np.asarray(sitk.GetArrayFromImage(reference.labels)) == LEFT_LUNG, iterations=2)
    hu[left] = 40
    altered = sitk.GetImageFromArray(hu)
    altered.CopyInformation(image)
    result = segmenter.segment(altered)
    codes = _codes(result)
    assert {"missing-lung", "lungs-joined"} & codes, codes
    assert (
        result.measurements.of(LEFT_LUNG_CLASS).voxels < 0.05 * reference.measurements.of(LEFT_LUNG_CLASS).voxels
        or "lungs-joined" in codes
    )
    assert not result.quality.plausible and result.quality.score <= 0.5 * result.quality.flip_agreement + 1e-6


def test_rotated_real_scan_puts_the_lungs_back_on_its_own_grid(segmenter, clean):
    """The same voxels with a direction rotated 20 degrees about the long axis: the scan is resampled to
    axial for inference and flagged oblique, and the labels on the input grid match the clean ones."""
    image, reference = clean
    rotated = sitk.Image(image)
    rotated.SetDirection(sitk.VersorTransform((0, 0, 1), np.radians(20)).GetMatrix())
    result = segmenter.segment(rotated)
    assert "oblique" in _codes(result)
    got, want = sitk.GetArrayFromImage(result.labels), sitk.GetArrayFromImage(reference.labels)
    for label in (RIGHT_LUNG, LEFT_LUNG):
        overlap = np.logical_and(got == label, want == label).sum()
        assert 2 * overlap / ((got == label).sum() + (want == label).sum()) > 0.93, label
