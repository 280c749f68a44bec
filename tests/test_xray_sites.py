"""Chest X-ray lungs across hospitals: the 138 Montgomery films split by film (stratified by normal/TB),
the augmentation for what changes between sites, and the shipped model's cross-validation quoted from its
committed benchmark; all on the real films of ``xray-lung-montgomery-138``."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np
import pytest

from conftest import REPO, load_script, shared, tiny_xray_config
from lungseg.config import AugmentConfig, RunConfig
from lungseg.inference.core.study import as_study
from lungseg.io import read_image, read_mask
from lungseg.metrics.functional import dice


@pytest.fixture(scope="module")
def films():
    return shared("xray-lung-montgomery-138")


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/xray_cv.py")


def film_pair(films, name: str, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.resize(read_image(films / "images" / f"{name}.png"), (size, size)).astype(np.float32) / 255
    mask = cv2.resize(
        read_mask(films / "masks" / f"{name}.png").astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST
    )
    return image, (mask > 0).astype(np.uint8)


# --- the split ------------------------------------------------------------------------------------------


def test_folds_split_by_film_and_keep_the_tb_share(bench, films):
    names = bench.film_names(films)
    assert len(names) == 138 and sum(bench.is_tb(n) for n in names) == 58
    folds = bench.fold_of(names, 5)
    assert folds == bench.fold_of(names, 5) and set(folds) == set(names)  # seeded, every film once
    sizes = Counter(folds.values())
    assert set(sizes) == set(range(5)) and max(sizes.values()) - min(sizes.values()) <= 1
    tb = Counter(fold for name, fold in folds.items() if bench.is_tb(name))
    assert min(tb.values()) >= 11 and max(tb.values()) <= 12  # 58 TB films dealt over 5 folds
    assert bench.fold_of(names, 5, seed=1) != folds


def test_fold_folder_holds_only_the_training_films(bench, films, tmp_path):
    names = bench.film_names(films)
    folds = bench.fold_of(names, 5)
    train = [n for n in names if folds[n] != 0]
    folder = bench.link_folder(tmp_path / "data", train)
    linked = sorted(p.stem for p in (folder / "images").iterdir())
    assert linked == sorted(train) and sorted(p.stem for p in (folder / "masks").iterdir()) == linked
    assert not {n for n in names if folds[n] == 0} & set(linked)


# --- augmentation for other sites -------------------------------------------------------------------------


def site_augmentation(**chances):
    from lungseg.data.augment import build_augmentation

    off = dict(hflip=0.0, affine_p=0.0, brightness_contrast=0.0, gamma_p=0.0, blur_p=0.0, noise_p=0.0)
    return build_augmentation(AugmentConfig(**{**off, **chances}), seed=0)


def test_aspect_changes_the_width_of_film_and_mask_alone(films):
    from lungseg.data.augment import augment_pair

    image, mask = film_pair(films, "MCUCXR_0001_0")
    transform = site_augmentation(aspect=0.22, aspect_p=1.0)
    rows, cols = np.nonzero(mask)
    widths, heights = [], []
    for seed in range(12):
        transform.set_random_seed(seed)
        out_image, out_mask, _ = augment_pair(transform, image, mask)
        assert out_image.dtype == np.float32 and 0 <= out_image.min() and out_image.max() <= 1
        r, c = np.nonzero(out_mask)
        widths.append((c.max() - c.min()) / (cols.max() - cols.min()))
        heights.append((r.max() - r.min()) / (rows.max() - rows.min()))
    assert np.allclose(heights, 1.0, atol=0.02)  # the height is kept
    assert min(widths) < 0.9 and max(widths) > 1.1  # wider and narrower lungs, both ways


def test_markers_borders_bit_depth_and_tone_leave_the_lungs_labelled(films):
    from lungseg.data.augment import augment_pair

    image, mask = film_pair(films, "MCUCXR_0104_1")
    markers = site_augmentation(marker_p=1.0)
    markers.set_random_seed(0)
    marked, marked_mask, _ = augment_pair(markers, image, mask)
    assert np.array_equal(marked_mask, mask) and (marked == 1.0).sum() > (image == 1.0).sum()
    depth = site_augmentation(bit_depth_p=1.0)
    depth.set_random_seed(0)
    assert len(np.unique(augment_pair(depth, image, mask)[0])) <= 128 < len(np.unique(image))
    tone = site_augmentation(tone_p=1.0)
    tone.set_random_seed(0)
    toned, toned_mask, _ = augment_pair(tone, image, mask)
    assert np.array_equal(toned_mask, mask) and not np.allclose(toned, image)
    border = site_augmentation(border_p=1.0)
    changed = 0
    for seed in range(6):
        border.set_random_seed(seed)
        framed, framed_mask, _ = augment_pair(border, image, mask)
        assert framed.shape == image.shape and framed_mask.shape == mask.shape
        changed += not np.array_equal(framed_mask, mask)
        # the mask moves with the film: it still covers the film's (dark) lung pixels
        assert abs(framed[framed_mask > 0].mean() - image[mask > 0].mean()) < 0.03
    assert changed >= 5


@pytest.mark.parametrize(
    "key, value", [("augment.marker_p", 1.5), ("augment.aspect", 0.6), ("augment.bit_depth_p", -0.1)]
)
def test_augmentation_chances_out_of_range_are_refused(key, value):
    section, name = key.split(".")
    values = RunConfig().to_dict()
    values[section][name] = value
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        RunConfig.from_dict(values)


# --- the shipped model ------------------------------------------------------------------------------------


def test_shipped_manifest_quotes_the_committed_cross_validation():
    """The xray-lung manifest's cross-validation is benchmarks/results/xray_cv.json's entry for the
    release's tag, read through the release tool (which reruns the benchmark only when it is missing)."""
    tool = load_script("tools/release_weights.py")
    spec = tool.RELEASES["xray-lung"]
    assert "xray-lung-montgomery-138" in " ".join(spec.train)
    results = json.loads((REPO / "benchmarks" / "results" / "xray_cv.json").read_text())
    assert spec.xray_cv in results  # else the release tool would train
    found, command = tool.benchmark_result("xray_cv", spec.xray_cv, "--tag")
    entry = json.loads((REPO / "src" / "lungseg" / "weights" / "manifest.json").read_text())["models"]["xray-lung"]
    assert entry["cv_command"] == command == f"python benchmarks/xray_cv.py --tag {spec.xray_cv}"
    assert entry["cv_metrics"]["dice"] == dict(zip(("mean", "sd"), found["over_folds"]["all_dice"]))
    assert entry["cv_metrics"]["dice_tb"] == dict(zip(("mean", "sd"), found["over_folds"]["tb_dice"]))
    assert found["k"] == 5 and len(found["films"]) == 138  # every film scored once, by the fold that never saw it
    assert len({row["name"] for row in found["films"]}) == 138
    assert found["over_folds"]["all_dice"][0] >= 0.95 and found["over_folds"]["tb_dice"][0] >= 0.93


def test_shipped_model_on_the_films_of_another_processing(films):
    """The 4 films of xray-lung-montgomery (cropped, JPEG; not matched among the 138) through the
    shipped model, scored as ``lungseg evaluate`` scores them."""
    from lungseg.config.files import load_config
    from lungseg.inference.core.predictor import Predictor

    old = shared("xray-lung-montgomery")
    predictor = Predictor.load("xray-lung")
    recipe = load_config(REPO / "recipes" / "xray-lung.yaml")
    assert predictor.plan.clahe_clip == recipe.preprocess.clahe_clip > 0  # the shipped model is the recipe's
    scores = [
        dice(
            predictor.predict([read_image(old / "images" / f"{n}.jpg")])[0], read_mask(old / "masks" / f"{n}-mask.png")
        )
        for n in "1234"
    ]
    assert min(scores) > 0.9, scores


@pytest.mark.slow
def test_short_training_on_real_films_generalises_to_a_held_out_film(bench, films, tmp_path):
    """The recipe's preprocessing and augmentation, 8 real films of fold 1..4 (64 px, a small U-Net, about
    a minute of CPU), scored on a fold-0 film on its own 512x512 grid."""
    from lungseg.inference.core.predictor import Predictor
    from lungseg.training import train_run

    names = bench.film_names(films)
    folds = bench.fold_of(names, 5)
    train = [n for n in names if folds[n] != 0][:8]
    held = next(n for n in names if folds[n] == 0)
    config = tiny_xray_config(bench.link_folder(tmp_path / "data", train), epochs=10, epoch_repeats=4, batch_size=4)
    train_run(config, tmp_path / "run", log=lambda line: None)
    predictor = Predictor.load(tmp_path / "run" / "best.pt", backend="torch")
    held_out = predictor.predict([read_image(films / "images" / f"{held}.png")])[0]
    assert dice(held_out, read_mask(films / "masks" / f"{held}.png")) > 0.8


def test_auto_never_gives_an_unflagged_ct_result_for_an_unprocessed_film(films):
    """The 138 films are high-contrast: both lung models recognise them. The in-domain checks now send most
    to the X-ray model (0001); the 3 the checks leave to the lung/ring tie-break go to the CT model (0041)
    and are flagged (routing-unsure, verdict check), naming the way out."""
    from lungseg.inference.routing.load import load_segmenter

    auto = load_segmenter("auto")
    assert auto.choose(as_study(films / "images" / "MCUCXR_0001_0.png")).model == "xray-lung"
    result = auto.segment(films / "images" / "MCUCXR_0041_0.png")
    codes = [str(f.code) for f in result.findings]
    assert codes[0] == "model-chosen" and "ct-lung" in result.findings[0].message and "routing-unsure" in codes
    assert result.verdict.status == "check"
    unsure = next(f for f in result.findings if str(f.code) == "routing-unsure")
    assert "chest X-ray model" in unsure.message
