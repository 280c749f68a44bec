"""The in-domain check stored with every shipped model (preprocessing.domain, inference.core.domain):
fitted on the model's own training images, it passes held-out images of that kind and flags or refuses
foreign ones; the router, the segmenters and the classifier use it with the stored threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from lungseg.errors import InputError
from lungseg.findings import Code, Level
from lungseg.inference.core.domain import check_domain, load_domain, measured_slices, prepared_input
from lungseg.io import read_image
from lungseg.io.shipped import shipped_models
from lungseg.preprocessing.domain import FOREIGN, IN, UNLIKE, DomainModel, domain_features, fit_domain

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
KMADER = SHARED / "ct-lung-kmader"
EM = SHARED / "em-membrane-isbi2012" / "images" / "0.png"
FILM = SHARED / "xray-lung-montgomery-138" / "images" / "MCUCXR_0001_0.png"


def _ct_card():
    from lungseg.inference.core.predictor import read_card

    return read_card("ct-lung")


def test_features_are_finite_and_sized_for_any_input_size():
    rng = np.random.default_rng(0)
    for size in (32, 128, 256, 250):
        values = domain_features(rng.random((size, size)))
        assert values.shape == (81,) and np.isfinite(values).all()
    with pytest.raises(ValueError, match="prepared"):
        domain_features(np.zeros((16, 16)))


@pytest.mark.parametrize("method", ["knn", "mahalanobis"])
def test_fit_flags_a_shifted_cloud_and_round_trips(tmp_path, method):
    rng = np.random.default_rng(1)
    train = rng.normal(0.5, 0.05, (200, 81))
    check = fit_domain(train, "synthetic", method)
    inside = check.distances(rng.normal(0.5, 0.05, (200, 81)))
    assert (inside <= check.threshold).mean() >= 0.95
    outside = check.distances(rng.normal(0.9, 0.05, (20, 81)))
    assert all(check.status(d) == FOREIGN for d in outside)
    assert check.status(check.threshold) == IN and check.status(check.threshold * 1.5) == UNLIKE
    with open(tmp_path / "check.npz", "wb") as handle:
        check.write(handle)
    again = DomainModel.load(tmp_path / "check.npz")
    assert again.method == method and again.fitted_on == "synthetic" and again.n_train == 200
    assert np.allclose(again.distances(train[:5]), check.distances(train[:5]), rtol=1e-4)


def test_damaged_check_file_names_the_file(tmp_path):
    broken = tmp_path / "broken.domain.npz"
    broken.write_bytes(b"not an npz")
    with pytest.raises(InputError, match="broken.domain.npz.*in-domain check"):
        DomainModel.load(broken)
    with pytest.raises(ValueError, match="method"):
        fit_domain(np.zeros((20, 81)), "x", "nearest")


def test_every_shipped_model_has_a_verified_check():
    for name in shipped_models():
        check = load_domain(name)
        assert check is not None, name
        assert check.n_train >= 50 and 0 < check.threshold < check.far, name
    assert load_domain(str(EM)) is None  # a file path: a user's own model has no stored check


def test_stored_ct_lung_check_is_reproduced_from_its_training_images():
    """No hard-coded threshold: refitting on the checkpoint's train split gives the shipped check."""
    sys.path.insert(0, str(REPO / "tools"))
    from fit_domain import training_features

    features, fitted_on = training_features("ct-lung")
    shipped = load_domain("ct-lung")
    refit = fit_domain(features, fitted_on)
    assert refit.n_train == shipped.n_train == 141
    assert refit.threshold == pytest.approx(shipped.threshold, rel=1e-4)


def test_ct_lung_check_passes_held_out_kmader_and_flags_abdomen_and_noise():
    card, check = _ct_card(), load_domain("ct-lung")
    test_names = sorted(card.split.test)
    prepared = [prepared_input(card, read_image(KMADER / "images" / f"{name}.tif")) for name in test_names]
    distances = check.distances_of(prepared)
    assert (distances <= check.threshold).all(), dict(zip(test_names, distances.round(1)))
    import SimpleITK as sitk

    from lungseg.io.volumes import read_volume

    abdomen = sitk.GetArrayFromImage(read_volume(SHARED / "ct-abdomen-totalseg" / "dicom")).astype(np.float32)
    result = check_domain(check, "ct-lung", card, [prepared_input(card, s) for s in abdomen[::4]], range(5))
    assert result.status != IN and result.findings()[0].code == Code.OUT_OF_DOMAIN
    noise = np.random.default_rng(0).uniform(-1000, 1000, (512, 512)).astype(np.float32)
    assert check_domain(check, "ct-lung", card, [prepared_input(card, noise)]).status != IN


def test_measured_slices_are_those_with_most_lung():
    labels = np.zeros((20, 8, 8), np.uint8)
    labels[5:15, 2:6, 2:6] = 1
    labels[9:11, :, :] = 1
    picks = measured_slices(labels)
    assert picks and all(5 <= z < 15 for z in picks)
    assert measured_slices(np.zeros((6, 4, 4))) == [3]


@pytest.fixture(scope="module")
def auto():
    from lungseg.inference.routing.load import load_segmenter

    return load_segmenter("auto")


def _run(segmenter, path):
    from lungseg.inference.core.pipeline import run_study

    return run_study(segmenter, path)


def test_auto_flags_an_em_section_as_unlike_the_ct_training_images(auto):
    run = _run(auto, EM)
    codes = {f.code: f for f in run.result.findings}
    assert Code.OUT_OF_DOMAIN in codes and codes[Code.OUT_OF_DOMAIN].level in (Level.WARN, Level.REFUSE)
    assert "ct-lung-8bit was trained on" in codes[Code.OUT_OF_DOMAIN].message
    assert run.result.verdict.status == "check"


def test_auto_routes_by_the_same_checks_and_passes_own_kinds(auto):
    film = _run(auto, SHARED / "xray-lung-montgomery" / "images" / "2.jpg")  # an export, not a training file
    assert film.model == "xray-lung" and "the chest film model (distance" in film.result.findings[0].message
    assert not any(f.code == Code.OUT_OF_DOMAIN for f in film.result.findings)
    slice_ = _run(auto, KMADER / "images" / "ID_0022_Z_0131.tif")  # a test-split slice (HU)
    assert not any(f.code == Code.OUT_OF_DOMAIN for f in slice_.result.findings)


def test_films_through_the_ct_export_check_are_mostly_flagged():
    """Chest films given to the 8-bit CT model's check: most are unlike its training exports (115 of 138 in
    benchmarks/README.md); the router sends them to xray-lung before that matters."""
    from lungseg.inference.core.predictor import read_card

    card, check = read_card("ct-lung-8bit"), load_domain("ct-lung-8bit")
    films = sorted(FILM.parent.glob("*.png"))[:20]
    statuses = [check_domain(check, "ct-lung-8bit", card, [prepared_input(card, read_image(f))]).status for f in films]
    assert sum(status != IN for status in statuses) >= 14, statuses


@pytest.mark.slow
def test_popi_chest_ct_is_in_the_ct_lung_domain(auto):
    run = _run(auto, SHARED / "ct-volume-popi" / "dicom")
    assert not any(f.code == Code.OUT_OF_DOMAIN for f in run.result.findings)


def test_classifier_refuses_em_and_an_xray_and_passes_a_validation_picture():
    """Where the chest-CT picture check and the in-domain check agree (EM section, chest X-ray), or the
    picture is unlike the training pictures and the lung-model router surely calls it a chest film, the
    classifier refuses: no class is given; its own kind of picture gets its class without a finding."""
    from lungseg.inference.classify.classifier import ImageClassifier

    classifier = ImageClassifier.load("ct-cancer-type")
    for foreign in (EM, SHARED / "xray-lung-montgomery" / "images" / "1.jpg"):
        prediction = classifier.apply(foreign)
        assert prediction.refused is not None and prediction.answer == "refused", foreign
        assert "distance" in prediction.line()
    assert "two independent checks agree" in classifier.apply(EM).line()
    # a high-contrast film whose dark lungs pass the picture check: the router's rule names it a radiograph
    film = SHARED / "xray-lung-montgomery-138" / "images" / "MCUCXR_0002_0.png"
    assert classifier.check_picture(classifier.read(film).gray) == []
    prediction = classifier.apply(film)
    assert prediction.answer == "refused" and "chest radiograph" in prediction.line()
    valid = classifier.apply(sorted((SHARED / "chest-ct-cancer" / "valid" / "adenocarcinoma").iterdir())[0])
    assert valid.refused is None and valid.answer in classifier.class_names
    assert not any(f.code in (Code.OUT_OF_DOMAIN, Code.NOT_CHEST_CT) for f in valid.findings)


def test_the_covid_infection_check_joins_the_verdict_and_passes_its_own_kind():
    """covid-infection (semi-supervised: fitted on 1,717 images) runs its check inside the lungs; a slice of a
    COVID-19 volume that no model trained on passes it, an HU chest CT slice too. covid-infection-types is
    covid-infection's network split by a gray level, so its check is fitted on the same images."""
    import json

    from lungseg.inference import Segmenter

    segmenter = Segmenter.from_pretrained("ct-lung", lesions=["covid-infection", "covid-infection-types"])
    assert [m.predictor.domain.n_train >= 500 for m in segmenter.lesions] == [True, True]
    split = REPO / "runs" / "covid-pretrain" / "split.json"
    held_out = (
        [n for n in json.loads(split.read_text())["val"] if n.startswith("Data-1")][0]
        if split.is_file()
        else "Data-1_coronacases_org_007_100"  # a volume held out of stage 1 (recipes/covid-infection-pretrain.yaml)
    )
    for path in (
        SHARED / "covid-infection-pseudo" / "images" / f"{held_out}.jpg",
        KMADER / "images" / "ID_0022_Z_0131.tif",
    ):
        result = segmenter.segment(path)
        assert not any(f.code == Code.OUT_OF_DOMAIN for f in result.findings), (path, result.findings)
