"""Right answers or no answers, on real data: solid lesions made of aerated lung are not reported as
tumours (HU and 8-bit rules agree; the tumours are placed on the real POPI scan, since the shipped
lung-tumor model that reported such tumours is retired), the lungs of an export drawn outside the body
are flagged per slice, and one function turns findings and quality into the verdict (ok, check,
refused) that the report, the CLI and the web page carry."""

from __future__ import annotations

import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import ndimage

from conftest import REPO, run_cli, shared
from lungseg.findings import Code
from lungseg.inference import Segmenter
from lungseg.inference.core.checks import AERATED_HU
from lungseg.inference.core.verdict import CHECK, OK, REFUSED, refused_verdict, trust_verdict
from lungseg.inference.lesions.density import drop_aerated
from lungseg.inference.lesions.model import component_structure
from lungseg.labels import TUMOUR
from lungseg.screening import QUALITY_FLAG


def _window_8bit():
    sys.path.insert(0, str(REPO / "tools"))
    from render_8bit import window_8bit

    return window_8bit


RADIUS = 4  # pixels (7.8 mm on popi_small's 1.95 mm grid): each placed "tumour" is a disc on two slices


def _placed(where: np.ndarray, z: int) -> np.ndarray | None:
    """A (Z, Y, X) ball: a disc of ``RADIUS`` on slices z and z + 1 whose every voxel is in ``where`` (the
    middle one of the centres that allow it), or None where none fits."""
    disc = np.hypot(*np.mgrid[-RADIUS : RADIUS + 1, -RADIUS : RADIUS + 1]) <= RADIUS
    fits = ndimage.binary_erosion(where[z], disc) & ndimage.binary_erosion(where[z + 1], disc)
    centres = np.argwhere(fits)
    if not len(centres):
        return None
    y, x = centres[len(centres) // 2]
    ball = np.zeros(where.shape, bool)
    ball[z : z + 2, y - RADIUS : y + RADIUS + 1, x - RADIUS : x + RADIUS + 1] = disc
    return ball


def place_tumours(hu: np.ndarray, lungs: np.ndarray) -> tuple[np.ndarray, list, list]:
    """A tumour model's output built on a real scan: TUMOUR balls in aerated lung (every voxel below
    -700 HU, inside the lung labels: what lung-tumor reported 13 times on POPI) on three slices, right,
    left and right lung, and in soft tissue (every voxel -100..+200 HU, outside the lungs, between them:
    mediastinum and heart) on two of those slices. Returns the (Z, Y, X) label map and the two lists of
    balls."""
    in_lung = np.isin(lungs, (1, 2))
    with_lung = np.flatnonzero(in_lung.sum(axis=(1, 2)) > 2000)
    slices = [int(with_lung[round(q * (len(with_lung) - 2))]) for q in (0.3, 0.55, 0.8)]
    right_x, left_x = (np.argwhere(lungs == side)[:, 2].mean() for side in (1, 2))
    columns = np.arange(hu.shape[2])[None, None, :]
    between = (columns > min(right_x, left_x)) & (columns < max(right_x, left_x))
    soft = (hu > -100) & (hu < 200) & ~in_lung & between
    aerated = [_placed((lungs == side) & (hu < -700), z) for z, side in zip(slices, (1, 2, 1))]
    solid = [_placed(soft, z) for z in slices[::2]]
    assert all(ball is not None for ball in (*aerated, *solid)), "POPI has room for every ball"
    found = np.zeros(hu.shape, np.uint8)
    for ball in (*aerated, *solid):
        found[ball] = TUMOUR.value
    return found, aerated, solid


class PlacedTumours:
    """Stands in for a tumour lesion model in the segmenter's lesion stage: its ``find`` returns
    ``place_tumours`` on the HU and lung labels that the stage gives it (and keeps what it returned)."""

    name = "placed-tumours"
    classes = (TUMOUR,)
    predictor = SimpleNamespace(card=SimpleNamespace(nodule_crops=False))

    def find(self, stored, lungs, spacing, options, tta=False):
        self.found, self.aerated, self.solid = place_tumours(stored, lungs)
        return self.found

    def domain(self, stored, lungs, options):
        return None  # no in-domain check stored for a stand-in


@pytest.fixture(scope="module")
def popi_tumours(popi_small):
    """POPI (shrunk 2x) through the shipped ct-lung segmenter with ``PlacedTumours`` as its lesion model:
    the result, and the placed tumour labels before the density rule."""
    model = PlacedTumours()
    result = Segmenter.from_pretrained("ct-lung", tta=False).replace(lesions=(model,)).segment(popi_small)
    return result, model


def _components(mask: np.ndarray) -> list[np.ndarray]:
    labels, count = ndimage.label(mask, component_structure(len(mask) > 1))
    return [labels == index for index in range(1, count + 1)]


def _slices(balls: list[np.ndarray]) -> set[int]:
    return {int(z) for ball in balls for z in np.nonzero(ball.any(axis=(1, 2)))[0]}


def test_tumours_made_of_aerated_lung_are_removed_and_reported(popi_tumours):
    """On the real POPI scan: the placed balls of aerated lung are removed (one lesion-aerated finding
    with their count, volume and slices; verdict check), the balls on soft tissue stay as tumours."""
    result, model = popi_tumours
    hu, found = result.canonical_hu, model.found
    placed = _components(found == TUMOUR.value)
    assert len(placed) == len(model.aerated) + len(model.solid) == 5, "the balls do not touch"
    assert all(np.all(hu[ball] < -700) for ball in model.aerated)
    assert all(np.all((hu[ball] > -100) & (hu[ball] < 200)) for ball in model.solid)
    assert len(_slices(model.aerated)) == 6 and _slices(model.solid) < _slices(model.aerated)
    kept = result.canonical_labels == TUMOUR.value
    assert np.array_equal(kept, np.any(model.solid, axis=0))
    assert all(np.mean(hu[c] < AERATED_HU) <= 0.5 for c in _components(kept))
    assert [len(found) for label, found in result.lesions.components if label == TUMOUR] == [len(model.solid)]
    removed = [f for f in result.findings if f.code == Code.LESION_AERATED]
    assert len(removed) == 1 and removed[0].message.startswith(f"{len(model.aerated)} tumour component(s) (")
    assert " mL, slices " in removed[0].message and "below -300 HU" in removed[0].message
    assert set(removed[0].slices) == _slices(model.aerated)
    verdict = result.verdict
    assert verdict.status == CHECK and "lesion-aerated" in {reason.code for reason in verdict.reasons}


def test_8bit_rule_agrees_with_the_hu_rule_on_a_lung_window_export(popi_tumours):
    """The same components on the real scan judged on HU and on its 8-bit rendering through a lung
    window remove the same components (the aerated ones); through the MSD tumour exports' window
    (-5..225 HU), which clips the lungs to black, nothing is removed and the finding says density could
    not be checked, on the slices of the components."""
    result, model = popi_tumours
    found, spacing = model.found, result.canonical_spacing
    lungs = np.where(found > 0, 0, np.isin(result.canonical_labels, (1, 2)) * result.canonical_labels)
    kept_hu, findings = drop_aerated(found, result.canonical_hu, lungs, (TUMOUR,), True, spacing)
    assert np.array_equal(kept_hu > 0, np.any(model.solid, axis=0))
    assert [f.code for f in findings] == [Code.LESION_AERATED]
    window_8bit = _window_8bit()
    lung_window = np.stack([window_8bit(plane, -600.0, 1500.0) for plane in result.canonical_hu])
    kept_8bit, findings = drop_aerated(found, lung_window, lungs, (TUMOUR,), False, spacing)
    assert np.array_equal(kept_8bit > 0, kept_hu > 0)
    assert [f.code for f in findings] == [Code.LESION_AERATED] and set(findings[0].slices) == _slices(model.aerated)
    assert "at lung gray" in findings[0].message
    clipped = np.stack([window_8bit(plane, 110.0, 230.0) for plane in result.canonical_hu])
    kept_clipped, findings = drop_aerated(found, clipped, lungs, (TUMOUR,), False, spacing)
    assert np.array_equal(kept_clipped, found)
    assert [f.code for f in findings] == [Code.LESION_DENSITY_UNCHECKED]
    assert set(findings[0].slices) == _slices(model.aerated)


def test_the_retired_lung_tumor_model_fails_with_one_line_naming_its_successor(popi_small, tmp_path):
    """lung-tumor is retired (issue 25): the CLI and the API refuse it with one line that says so and
    names lung-nodule; no traceback."""
    from lungseg.errors import InputError

    done = run_cli("predict", popi_small, tmp_path / "out.nii.gz", "--lesions", "lung-tumor", "--no-tta")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "lung-tumor" in lines[0] and "retired" in lines[0] and "lung-nodule" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout and not (tmp_path / "out.nii.gz").exists()
    with pytest.raises(InputError, match=r"lung-tumor.*retired.*successor is lung-nodule") as raised:
        Segmenter.from_pretrained("lung-tumor", tta=False)
    assert "\n" not in str(raised.value)


def test_msd_export_with_lungs_outside_the_body_gets_check():
    """On 8-bit MSD exports the 8-bit lung model paints lung beyond the chest wall: flagged on that
    slice, and the verdict is check."""
    segmenter = Segmenter.from_pretrained("ct-lung", tta=False)
    result = segmenter.segment(shared("lung-tumor-msd", "images", "10035_90.png"))
    outside = [f for f in result.findings if f.code == Code.LUNG_OUTSIDE_BODY]
    assert outside and outside[0].slices == (0,)
    assert result.verdict.status == CHECK and "lung-outside-body" in {r.code for r in result.verdict.reasons}


def test_clean_popi_is_ok_and_low_quality_is_never_ok(popi_small):
    result = Segmenter.from_pretrained("ct-lung", tta=False).segment(popi_small)
    assert not {f.code for f in result.findings} & {Code.LUNG_OUTSIDE_BODY, Code.LUNG_SIDE_RATIO, Code.LUNG_NOT_DARK}
    warned = [f for f in result.findings if f.level == "warn"]
    assert (result.verdict.status == OK) == (
        not warned and not result.quality.flagged and not result.quality.flagged_slices
    )
    low = replace(result.quality, score=QUALITY_FLAG - 0.01, flagged=True)
    verdict = trust_verdict([], low)
    assert verdict.status == CHECK and verdict.reasons[0].code == "low-quality"
    unstable = replace(result.quality, flagged_slices=(3, 4, 5))
    assert trust_verdict([], unstable).reasons[0].slices == (3, 4, 5)
    assert trust_verdict([], result.quality).line().startswith("verdict ok: no problems")
    refused = refused_verdict("scan.png: not a chest CT")
    assert refused.status == REFUSED and refused.to_dict()["reasons"][0]["message"] == "scan.png: not a chest CT"


def test_em_sections_through_auto_are_flagged_while_chest_ct_exports_pass():
    """One chest-CT picture check (``checks.chest_ct_picture``) for the router, the CT segmenter and the
    classifier: EM sections (lung/ring ratio 0.61-0.67, between the old 0.60 and 0.72 thresholds) come
    back from ``auto`` flagged not-chest-ct with verdict check; real chest CT exports do not."""
    from lungseg.inference.routing.auto import AutoSegmenter

    auto = AutoSegmenter(tta=False)
    for name in ("0.png", "11.png"):
        result = auto.segment(shared("em-membrane-isbi2012", "images", name))
        assert Code.NOT_CHEST_CT in {f.code for f in result.findings}, name
        assert result.verdict.status == CHECK and "not-chest-ct" in {r.code for r in result.verdict.reasons}
    for path in (
        shared("covid-infection", "train", "images", "2.jpg"),
        sorted(shared("chest-ct-cancer", "valid", "adenocarcinoma").iterdir())[0],
    ):
        result = auto.segment(path)
        assert result.models[0] == "ct-lung-8bit" and Code.NOT_CHEST_CT not in {f.code for f in result.findings}


def test_the_classifier_runs_the_same_chest_ct_picture_check():
    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.io import read_image

    classifier = ImageClassifier.load("ct-cancer-type")
    em = read_image(shared("em-membrane-isbi2012", "images", "0.png"))
    assert [f.code for f in classifier.check_picture(em)] == [Code.NOT_CHEST_CT]
    export = read_image(sorted(shared("chest-ct-cancer", "valid", "adenocarcinoma").iterdir())[0])
    assert classifier.check_picture(export[..., 0] if export.ndim == 3 else export) == []


@pytest.mark.parametrize("series", [False, True])
def test_an_rgb_dicom_is_refused_as_rgb(tmp_path, series):
    """A real POPI slice (or three) re-saved with RGB pixels: refused naming the colour, not as 512
    frames or an ONNX rank error."""
    import pydicom

    from lungseg.errors import InputError
    from lungseg.inference.core.study import load_study

    for index, source in enumerate(sorted(shared("ct-volume-popi", "dicom").iterdir())[30 : 33 if series else 31]):
        dataset = pydicom.dcmread(source)
        gray = np.clip((dataset.pixel_array.astype(np.float32) + 1000) / 8, 0, 255).astype(np.uint8)
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation, dataset.PlanarConfiguration = 3, "RGB", 0
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
        dataset.PixelData = np.stack([gray] * 3, -1).tobytes()
        dataset.save_as(tmp_path / f"{index}.dcm")
    with pytest.raises(InputError, match=r"RGB colour \(3 samples per pixel\)"):
        load_study(tmp_path if series else tmp_path / "0.dcm")
