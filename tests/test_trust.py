"""Right answers or no answers, on real data: solid lesions made of aerated lung are not reported as
tumours (HU and 8-bit rules agree), the lungs of an export drawn outside the body are flagged per slice,
and one function turns findings and quality into the verdict (ok, check, refused) that the report,
the CLI and the web page carry."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from conftest import REPO, shared
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


@pytest.fixture(scope="module")
def tumour_segmenter() -> Segmenter:
    return Segmenter.from_pretrained("lung-tumor", tta=False)


@pytest.fixture(scope="module")
def popi_tumours(tumour_segmenter, popi_small):
    """POPI (shrunk 2x) through lung-tumor: the result, and the model's raw tumour labels before the rule."""
    result = tumour_segmenter.segment(popi_small)
    found = tumour_segmenter.lesions[0].find(
        result.canonical_hu,
        np.isin(result.canonical_labels, (1, 2)) * result.canonical_labels,
        result.canonical_spacing,
        tumour_segmenter.lesion_options,
    )
    return result, found


def _components(mask: np.ndarray) -> list[np.ndarray]:
    labels, count = ndimage.label(mask, component_structure(len(mask) > 1))
    return [labels == index for index in range(1, count + 1)]


def test_popi_through_lung_tumor_reports_no_tumour_made_of_aerated_lung(popi_tumours):
    result, found = popi_tumours
    raw = _components(found == TUMOUR.value)
    aerated = [c for c in raw if np.mean(result.canonical_hu[c] < AERATED_HU) > 0.5]
    assert len(aerated) >= 8, "the model still fires on aerated lung in POPI: the rule has something to remove"
    kept = _components(result.canonical_labels == TUMOUR.value)
    assert all(np.mean(result.canonical_hu[c] < AERATED_HU) <= 0.5 for c in kept)
    assert len(kept) == len(raw) - len(aerated)
    assert [len(found) for label, found in result.lesions.components if label == TUMOUR] == [len(kept)]
    removed = [f for f in result.findings if f.code == Code.LESION_AERATED]
    assert len(removed) == 1 and removed[0].message.startswith(f"{len(aerated)} tumour component(s) (")
    assert " mL, slices " in removed[0].message and "below -300 HU" in removed[0].message
    assert set(removed[0].slices) == {int(z) for c in aerated for z in np.nonzero(c.any(axis=(1, 2)))[0]}
    verdict = result.verdict
    assert verdict.status == CHECK and "lesion-aerated" in {reason.code for reason in verdict.reasons}


def test_8bit_rule_agrees_with_the_hu_rule_on_a_lung_window_export(popi_tumours):
    """The same real components judged on the HU scan and on its 8-bit rendering through a lung window
    remove the same components; through the tumour model's own export window (-5..225 HU), which
    clips the lungs to black, nothing is removed and the finding says density could not be checked."""
    result, found = popi_tumours
    lungs = np.where(found > 0, 0, result.canonical_labels)
    kept_hu, _ = drop_aerated(found, result.canonical_hu, lungs, (TUMOUR,), True, result.canonical_spacing)
    window_8bit = _window_8bit()
    lung_window = np.stack([window_8bit(plane, -600.0, 1500.0) for plane in result.canonical_hu])
    kept_8bit, findings = drop_aerated(found, lung_window, lungs, (TUMOUR,), False, result.canonical_spacing)
    assert np.array_equal(kept_8bit > 0, kept_hu > 0)
    assert [f.code for f in findings] == [Code.LESION_AERATED]
    clipped = np.stack([window_8bit(plane, 110.0, 230.0) for plane in result.canonical_hu])
    kept_clipped, findings = drop_aerated(found, clipped, lungs, (TUMOUR,), False, result.canonical_spacing)
    assert np.array_equal(kept_clipped, found)
    assert [f.code for f in findings] == [Code.LESION_DENSITY_UNCHECKED] and findings[0].slices


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
