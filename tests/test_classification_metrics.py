import json
import math

import numpy as np
import pytest

from lungseg.metrics import (
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    softmax,
)
from lungseg.reports.classification_figures import confusion_matrix_png, reliability_png


def test_confusion_and_scores_by_hand():
    truth = [0, 0, 0, 0, 1, 1, 2, 2]
    predicted = [0, 0, 0, 1, 1, 0, 2, 1]
    assert confusion_matrix(truth, predicted, 3).tolist() == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    assert confusion_matrix(truth, predicted, 3).dtype == np.int64
    scores = classification_metrics(truth, predicted, ["a", "b", "c"])
    assert scores.n == 8
    assert scores.accuracy == pytest.approx(5 / 8)
    assert scores.balanced_accuracy == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    a, b, c = (scores.per_class[name] for name in "abc")
    assert (a.precision, a.recall, a.support) == (pytest.approx(3 / 4), pytest.approx(3 / 4), 4)
    assert b.precision == pytest.approx(1 / 3) and c.precision == pytest.approx(1.0)
    assert (a.f1, b.f1, c.f1) == (pytest.approx(0.75), pytest.approx(0.4), pytest.approx(2 / 3))
    assert scores.macro_f1 == pytest.approx((0.75 + 0.4 + 2 / 3) / 3)
    assert scores.confusion == ((3, 1, 0), (1, 1, 0), (0, 1, 1))
    assert scores.never_predicted == () and scores.no_true_samples == ()


def test_imbalanced_class_never_predicted():
    scores = classification_metrics([0] * 9 + [1], [0] * 10, ["normal", "lesion"])
    assert scores.accuracy == pytest.approx(0.9)
    assert scores.balanced_accuracy == pytest.approx(0.5)
    lesion = scores.per_class["lesion"]
    assert (lesion.precision, lesion.recall, lesion.f1, lesion.support) == (0.0, 0.0, 0.0, 1)
    assert scores.never_predicted == ("lesion",)
    assert scores.macro_f1 == pytest.approx((18 / 19 + 0.0) / 2)


def test_class_without_true_samples():
    # class "c" is predicted once but never true; class "d" is absent from both
    scores = classification_metrics([0, 0, 1, 1], [0, 2, 1, 1], ["a", "b", "c", "d"])
    c, d = scores.per_class["c"], scores.per_class["d"]
    assert c.precision == 0.0 and math.isnan(c.recall) and c.f1 == 0.0 and c.support == 0
    assert math.isnan(d.recall) and math.isnan(d.f1)
    assert scores.no_true_samples == ("c", "d") and scores.never_predicted == ("d",)
    assert scores.accuracy == pytest.approx(0.75)
    assert scores.balanced_accuracy == pytest.approx((0.5 + 1.0) / 2)
    assert scores.macro_f1 == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    as_dict = scores.to_dict()
    assert as_dict["per_class"]["c"]["recall"] is None and as_dict["per_class"]["d"]["f1"] is None
    assert as_dict["confusion"][0] == [1, 0, 1, 0] and as_dict["class_names"] == ["a", "b", "c", "d"]
    json.dumps(as_dict, allow_nan=False)


def test_ece_bins_and_nll_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    truth = np.array([0, 1, 0, 1])
    table = reliability_bins(probabilities, truth, bins=10)
    assert len(table) == 10 and sum(b.count for b in table) == 4
    assert table[5].count == 2 and table[5].mean_confidence == pytest.approx(0.6) and table[5].accuracy == 1.0
    assert table[8].count == 2 and table[8].accuracy == 0.5
    assert table[0].count == 0 and math.isnan(table[0].accuracy)
    assert expected_calibration_error(probabilities, truth, bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    expected_nll = -np.mean(np.log([0.9, 0.1, 0.6, 0.6]))
    assert negative_log_likelihood(probabilities, truth) == pytest.approx(expected_nll)
    assert negative_log_likelihood([[1.0, 0.0]], [1]) == pytest.approx(-math.log(1e-12))


def _calibrated(rng, n=20000, k=3):
    probabilities = rng.dirichlet(np.ones(k), size=n)
    cumulative = probabilities.cumsum(axis=1)
    truth = np.minimum((rng.random((n, 1)) > cumulative).sum(axis=1), k - 1)
    return probabilities, truth


def test_ece_calibrated_and_overconfident():
    rng = np.random.default_rng(0)
    probabilities, truth = _calibrated(rng)
    assert expected_calibration_error(probabilities, truth) < 0.02
    sharpened = probabilities**4
    sharpened /= sharpened.sum(axis=1, keepdims=True)
    assert expected_calibration_error(sharpened, truth) > 0.1


def test_softmax_is_stable():
    probabilities = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]]))
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities[1], 1 / 3)
    hot, soft = softmax([2.0, 0.0], 0.5), softmax([2.0, 0.0], 4.0)
    assert hot[0] > softmax([2.0, 0.0])[0] > soft[0]
    with pytest.raises(ValueError, match="temperature"):
        softmax([1.0, 2.0], temperature=0.0)


def test_temperature_scaling_softens_overconfident_logits():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(scale=1.5, size=(3000, 4))
    truth = (rng.random((3000, 1)) > softmax(true_logits).cumsum(axis=1)).sum(axis=1).clip(max=3)
    logits = 4.0 * true_logits
    temperature = fit_temperature(logits, truth)
    assert 2.0 < temperature < 8.0
    before = negative_log_likelihood(softmax(logits), truth)
    after = negative_log_likelihood(softmax(logits, temperature), truth)
    assert after < before
    assert expected_calibration_error(softmax(logits, temperature), truth) < expected_calibration_error(
        softmax(logits), truth
    )
    assert fit_temperature(logits[:1], truth[:1]) == 1.0


def test_figures_are_pngs(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    names = ["normal", "covid-19 pneumonia", "viral pneumonia", "lung opacity"]
    truth = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) * 3
    logits[np.arange(400), truth] += 3
    matrix = confusion_matrix(truth, logits.argmax(axis=1), 4)
    temperature = fit_temperature(logits, truth)
    before, after = softmax(logits), softmax(logits, temperature)
    written = [
        confusion_matrix_png(tmp_path / "confusion.png", matrix, names),
        reliability_png(
            tmp_path / "reliability.png",
            reliability_bins(before, truth),
            reliability_bins(after, truth),
            expected_calibration_error(before, truth),
            expected_calibration_error(after, truth),
        ),
        reliability_png(tmp_path / "reliability_before.png", reliability_bins(before, truth)),
    ]
    for path in written:
        assert path.stat().st_size > 0
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
    with pytest.raises(ValueError, match="confusion"):
        confusion_matrix_png(tmp_path / "bad.png", matrix[:3], names)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: confusion_matrix([0, 1], [0, 1, 1], 2), "predicted"),
        (lambda: confusion_matrix([0, 2], [0, 1], 2), "truth"),
        (lambda: confusion_matrix([[0, 1]], [[0, 1]], 2), "truth"),
        (lambda: confusion_matrix([0.5, 1], [0, 1], 2), "truth"),
        (lambda: confusion_matrix([0, 1], [0, 1], 0), "classes"),
        (lambda: classification_metrics([0, 1], [0, 1], ["a", "a"]), "class_names"),
        (lambda: classification_metrics([], [], ["a"]), "truth"),
        (lambda: expected_calibration_error([[0.5, 0.6]], [0]), "probabilities"),
        (lambda: expected_calibration_error([0.5, 0.5], [0]), "probabilities"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [0, 1]), "truth"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [0], bins=0), "bins"),
        (lambda: negative_log_likelihood([[0.5, 0.5]], [2]), "truth"),
        (lambda: fit_temperature(np.zeros((3, 2)), [0, 1]), "truth"),
        (lambda: fit_temperature(np.zeros(3), [0, 1, 0]), "logits"),
        (lambda: fit_temperature([[0.0, math.inf]], [0]), "logits"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
