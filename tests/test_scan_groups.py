"""Cancer-type classifier on scans it has never seen, on the real chest-ct-cancer slices: scan groups,
scan-disjoint folds, radiomics features, abstention and the capped display of confidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script, shared

CANCER = "chest-ct-cancer"
# two neighbouring slices of one scan (the same body, table and tumour; different vessels)
NEIGHBOURS = ("train/large_cell_carcinoma/000055.png", "train/large_cell_carcinoma/000069.png")
# two slices of one export (same window and framing, mid chest) ...
SAME_EXPORT = ("train/adenocarcinoma/000021 (6).png", "train/adenocarcinoma/000035 (6).png")
# ... and an apex slice of another export (darker mediastinal-like window, other framing)
OTHER_EXPORT = ("train/adenocarcinoma/000017 (8).png", "train/adenocarcinoma/000021 (5).png")
NORMALS = ("train/normal/10.png", "train/normal/10 - Copy.png", "valid/normal/5.png")


def _grouped(names):
    from lungseg.data.class_folders import LabelledImage, read_picture
    from lungseg.data.scan_groups import group_scans
    from lungseg.data.slice_groups import group_slices

    root = shared(CANCER)
    images = [LabelledImage(n, root / n, n.split("/")[1], n.split("/")[0]) for n in names]
    pictures = {item.name: read_picture(item.path).gray for item in images}
    slices = group_slices(images, [pictures[item.name] for item in images], use_cache=False)
    return slices, group_scans(slices, pictures, use_cache=False)


def test_scan_groups_join_neighbours_and_keep_scans_apart():
    """Neighbouring slices of one scan are one scan group (matched), two slices of one export are
    joined, another export of the same class stays apart, and classes are never joined; copies of a
    slice stay together."""
    slices, scans = _grouped([*NEIGHBOURS, *SAME_EXPORT, *OTHER_EXPORT, *NORMALS])
    of = scans.scan_of
    assert of[NEIGHBOURS[0]] == of[NEIGHBOURS[1]]
    # joined as neighbours (the duplicate audit's strict match already ties these two), not as copies
    assert [link.kind for link in slices.links if {link.first, link.second} == set(NEIGHBOURS)] == ["neighbour"]
    assert of[SAME_EXPORT[0]] == of[SAME_EXPORT[1]]
    assert of[SAME_EXPORT[0]] not in {of[name] for name in OTHER_EXPORT}
    assert of[NORMALS[0]] == of[NORMALS[1]]  # byte-identical copies
    for name in of:
        for other in of:
            if scans.labels[name] != scans.labels[other]:
                assert of[name] != of[other]
    counts = scans.class_counts(slices)
    assert counts["large_cell_carcinoma"] == {
        "files": 2,
        "scans": 1,
        "largest": 2,
        "evidence": {"one slice group": 1},
        "slices": 1,
    }
    assert scans.evidence[of[SAME_EXPORT[0]]] in ("matched", "matched + style", "style")
    assert "scan groups" in scans.summary_line()
    with pytest.raises(ValueError, match="cut"):
        from lungseg.data.scan_groups import group_scans

        group_scans(slices, {n: np.zeros((8, 8), np.uint8) for n in of}, use_cache=False, cut=0)


def test_scan_style_is_the_same_for_one_export_and_refuses_bad_input():
    from lungseg.data.class_folders import read_picture
    from lungseg.data.scan_groups import STYLE_TOLERANCE, scan_style

    root = shared(CANCER)
    a, b = (scan_style(read_picture(root / n).gray).vector() for n in SAME_EXPORT)
    c = scan_style(read_picture(root / OTHER_EXPORT[0]).gray).vector()
    assert np.all(np.abs(a - b) <= 2 * np.array(STYLE_TOLERANCE))
    assert np.max(np.abs(a - c) / np.array(STYLE_TOLERANCE)) > 2
    with pytest.raises(ValueError, match="gray"):
        scan_style(np.zeros((4, 4, 3)))


def test_scan_disjoint_folds_never_split_a_scan():
    """The benchmark's folds: every scan group in one fold, each class in every fold's validation part,
    the folds together cover every usable file once."""
    bench = load_script("benchmarks/classifier_scan_cv.py")
    root = shared(CANCER)
    names = [*NEIGHBOURS, *SAME_EXPORT, *OTHER_EXPORT, *NORMALS]
    for label in ("adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma"):
        names += [f"train/{label}/{p.name}" for p in sorted((root / "train" / label).iterdir())[:6]]
    slices, scans = _grouped(sorted(set(names)))
    splits = bench.folds_of(slices, scans, "scan", 2)
    seen = []
    for split in splits:
        train_scans = {scans.scan_of[n] for n in split.train}
        assert not train_scans & {scans.scan_of[n] for n in split.val}
        assert {scans.labels[n] for n in split.val} >= {"adenocarcinoma", "large_cell_carcinoma"}
        seen += split.val
    assert sorted(seen) == sorted(slices.usable())
    from lungseg.data.splits import split_has_validation

    held_out = bench.as_train_test(splits[0])  # what a trained candidate gets: nothing held out picks an epoch
    assert held_out.val == [] and held_out.test == splits[0].val and held_out.train == splits[0].train
    assert held_out.spec == "1:1" and not split_has_validation(held_out.spec)


def test_radiomics_features_on_a_real_slice():
    """Finite features of the documented length; the large tumour of 000055 gives a larger lesion than
    a normal slice; the features barely change when the export is half the size."""
    import cv2

    from lungseg.data.class_folders import read_picture
    from lungseg.data.radiomics import FEATURE_NAMES, radiomics_features

    root = shared(CANCER)
    tumour = read_picture(root / NEIGHBOURS[0]).gray
    features = radiomics_features(tumour)
    assert features.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(features))
    normal = radiomics_features(read_picture(root / NORMALS[0]).gray)
    area = FEATURE_NAMES.index("lesion_area")
    assert features[area] > normal[area]
    half = radiomics_features(
        cv2.resize(tumour, (tumour.shape[1] // 2, tumour.shape[0] // 2), interpolation=cv2.INTER_AREA)
    )
    share = FEATURE_NAMES.index("lung_share")
    assert half[share] == pytest.approx(features[share], abs=0.03)
    with pytest.raises(ValueError, match="gray"):
        radiomics_features(np.zeros((4, 4)))


def test_abstention_threshold_and_capped_display():
    from lungseg.metrics.abstention import accuracy_coverage, choose_threshold, display_cap, shown_percent

    confidence = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    correct = np.array([0, 0, 1, 0, 1, 1, 1, 1], bool)
    assert choose_threshold(confidence, correct, 0.8) == pytest.approx(0.45)  # 5 of the 6 answered right
    assert choose_threshold(confidence, correct, 0.95) == pytest.approx(0.65)  # all 4 answered right
    rows = {row["threshold"]: row for row in accuracy_coverage(confidence, correct)}
    assert rows[0.65]["coverage"] == 0.5 and rows[0.65]["accuracy"] == 1.0
    assert rows[0.45]["accuracy"] == pytest.approx(5 / 6)
    assert shown_percent(1.0) == ">99 %" and shown_percent(0.9999) == ">99 %" and shown_percent(0.0) == "<1 %"
    assert shown_percent(0.99) == "99 %" and shown_percent(0.734) == "73 %"
    assert shown_percent(0.97, cap=0.85) == ">85 %" and shown_percent(0.005, cap=0.85) == "<1 %"
    # the cap a display may state: the accuracy of the most confident held-out predictions
    sure = np.linspace(0.9, 1.0, 30)
    assert display_cap(sure, np.arange(30) % 10 != 0) == pytest.approx(0.9)  # 27 of 30 right
    assert display_cap(sure[:5], np.ones(5, bool)) == 0.99  # too few to say
    assert display_cap(np.r_[sure, 0.5], np.r_[np.ones(30, bool), False]) == 0.99
    with pytest.raises(ValueError, match="target"):
        choose_threshold(confidence, correct, 0.0)
    with pytest.raises(ValueError, match="probability"):
        shown_percent(1.2)


def test_prediction_abstains_below_the_threshold_and_never_shows_100_percent():
    from lungseg.inference.classify.classifier import ClassPrediction, NewScans

    scans = NewScans(1.5, 0.6, 0.55, 0.52, 0.8, 0.45)
    sure = ClassPrediction(
        "a.png",
        {"normal": 0.9995, "adenocarcinoma": 0.0005},
        "normal",
        0.9995,
        {"normal": 1.0, "adenocarcinoma": 0.0},
        1.5,
        (),
        scans,
    )
    unsure = ClassPrediction(
        "b.png",
        {"normal": 0.55, "adenocarcinoma": 0.45},
        "normal",
        0.55,
        {"normal": 0.6, "adenocarcinoma": 0.4},
        1.5,
        (),
        scans,
    )
    assert sure.answer == "normal" and not sure.uncertain
    assert sure.to_dict()["shown_confidence"] == ">99 %" and "100" not in sure.line()
    assert unsure.answer == "uncertain" and unsure.to_dict()["uncertain"]
    assert unsure.to_dict()["probabilities"] == {"normal": 0.55, "adenocarcinoma": 0.45}  # still given
    assert unsure.line().startswith("uncertain (most likely normal)")
    assert "55 %" in scans.note()
    capped = ClassPrediction(
        "d.png",
        {"normal": 0.97, "adenocarcinoma": 0.03},
        "normal",
        0.97,
        {},
        1.5,
        (),
        NewScans(1.5, 0.6, 0.55, 0.52, 0.8, 0.45, display_cap=0.85),
    )
    assert capped.to_dict()["shown_confidence"] == ">85 %" and capped.to_dict()["confidence"] == 0.97
    unmeasured = ClassPrediction("c.png", {"normal": 0.5, "adenocarcinoma": 0.5}, "normal", 0.5, {}, 1.0)
    assert unmeasured.answer == "normal" and unmeasured.to_dict()["expected_accuracy_new_scans"] is None


def test_shipped_new_scans_block_is_the_benchmark_result():
    """The manifest's ``new_scans`` of ct-cancer-type (temperature, threshold, expected accuracy on new
    scans) are the ``final`` values of the committed scan-disjoint benchmark result it names, and the
    shipped classifier uses them."""
    from lungseg.inference.classify.classifier import NewScans
    from lungseg.io.shipped import shipped_models

    entry = shipped_models()["ct-cancer-type"]
    block = entry.get("new_scans")
    if block is None:  # not measured: no threshold, and the output says so instead of quoting a figure
        assert NewScans.from_manifest(block) is None
        return
    results = json.loads(
        (Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "classifier_scan_cv.json").read_text()
    )
    final = results[block["result"]]["final"]
    for key in (
        "temperature",
        "threshold",
        "display_cap",
        "expected_accuracy",
        "expected_balanced_accuracy",
        "expected_coverage",
        "expected_answered_accuracy",
    ):
        assert block[key] == final[key], key
    assert block["command"] == results[block["result"]]["command"]
    assert NewScans.from_manifest(block).threshold == final["threshold"]


def test_radiomics_baseline_on_real_slices():
    """The benchmark's radiomics baseline (standardised features, L2 logistic regression) fitted on a few
    real slices per class gives finite scores for every class of a slice it has not seen."""
    from lungseg.data.class_folders import read_picture
    from lungseg.data.radiomics import radiomics_features

    bench = load_script("benchmarks/classifier_scan_cv.py")
    root = shared(CANCER)
    classes = ("adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma")
    train = [
        (path, index) for index, label in enumerate(classes) for path in sorted((root / "train" / label).iterdir())[:3]
    ]
    features = np.stack([radiomics_features(read_picture(path).gray) for path, _ in train])
    unseen = radiomics_features(read_picture(root / NEIGHBOURS[1]).gray)[None]
    logits = bench.radiomics_logits(features, np.array([index for _, index in train]), unseen, None)
    assert logits.shape == (1, len(classes)) and np.all(np.isfinite(logits))


def test_new_scans_block_comes_only_from_the_recipes_result(tmp_path):
    """tools/classifier_new_scans.py copies the recipe's ``final`` block with its command; another
    candidate's result or a missing one is refused naming it."""
    tool = load_script("tools/classifier_new_scans.py")
    final = {
        "temperature": 1.4,
        "threshold": 0.6,
        "display_cap": 0.8,
        "target_accuracy": 0.8,
        "expected_accuracy": 0.55,
        "expected_balanced_accuracy": 0.5,
        "expected_answered_accuracy": 0.8,
        "expected_coverage": 0.3,
    }
    results = tmp_path / "classifier_scan_cv.json"
    results.write_text(
        json.dumps(
            {
                "recipe [scan-disjoint, cut 1.0]": {"command": "python x", "folds_k": 5, "final": final},
                "1-nn-thumbnails [scan-disjoint, cut 1.0]": {"command": "y", "folds_k": 5, "final": final},
            }
        )
    )
    block = tool.new_scans_block("recipe [scan-disjoint, cut 1.0]", results)
    assert block == {"result": "recipe [scan-disjoint, cut 1.0]", "command": "python x", "folds": 5, **final}
    with pytest.raises(ValueError, match="1-nn-thumbnails"):
        tool.new_scans_block("1-nn-thumbnails [scan-disjoint, cut 1.0]", results)
    with pytest.raises(ValueError, match="recipe \\[slice"):
        tool.new_scans_block("recipe [slice-grouped]", results)
