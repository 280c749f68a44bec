import shutil

import numpy as np
import pytest
import torch

from conftest import shared
from lungseg.config import AugmentConfig, PreprocessConfig
from lungseg.data import SliceDataset, augment_pair, build_augmentation, find_pairs, load_pair, make_split
from lungseg.errors import InputError
from lungseg.preprocessing import PreprocessPlan


def test_pairs_by_stem_on_real_folders(kmader):
    pairs = find_pairs(kmader / "images", kmader / "masks")
    assert len(pairs) == len(list((kmader / "images").glob("*.tif")))
    assert all(p.image.name == p.mask.name for p in pairs)
    xray = shared("xray-lung-montgomery")
    xray_pairs = find_pairs(xray / "images", xray / "masks")
    assert [(p.image.name, p.mask.name) for p in xray_pairs][0] == ("1.jpg", "1-mask.png")


def _copy_pairs(source, target, count):
    for sub in ("images", "masks"):
        (target / sub).mkdir(parents=True)
        for path in sorted((source / sub).iterdir())[:count]:
            shutil.copy(path, target / sub / path.name)
    return target


def test_image_without_mask_is_named(tmp_path, kmader):
    root = _copy_pairs(kmader, tmp_path, 3)
    victim = sorted((root / "masks").iterdir())[1]
    victim.unlink()
    with pytest.raises(InputError, match=f"{victim.stem}.tif: no mask for this image"):
        find_pairs(root / "images", root / "masks")


def test_empty_folder_and_non_image_file(tmp_path, kmader):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(InputError, match="images: no image files found"):
        find_pairs(tmp_path / "images", tmp_path / "masks")
    root = _copy_pairs(kmader, tmp_path / "d", 2)
    (root / "images" / "scan.docx").write_text("x")
    (root / "images" / ".DS_Store").write_text("ignored")
    with pytest.raises(InputError, match="scan.docx: not a supported image file"):
        find_pairs(root / "images", root / "masks")


def test_mask_of_another_size_is_named(tmp_path, kmader):
    from PIL import Image

    root = _copy_pairs(kmader, tmp_path, 2)
    mask_path = sorted((root / "masks").iterdir())[0]
    mask_path.unlink()
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(mask_path.with_suffix(".png"))
    pair = find_pairs(root / "images", root / "masks")[0]
    with pytest.raises(InputError, match=r"\.png: mask is 256x256 but its image .* is 512x512"):
        load_pair(pair)


def test_split_70_20_10_is_seeded_and_disjoint(kmader):
    names = [p.stem for p in (kmader / "images").iterdir()]
    split = make_split(names, "70/20/10", seed=1)
    assert (len(split.train), len(split.val), len(split.test)) == (141, 40, 20)
    assert set(split.train) | set(split.val) | set(split.test) == set(names)
    assert not (set(split.train) & set(split.test)) and not (set(split.val) & set(split.test))
    assert make_split(names, "70/20/10", seed=1) == split
    assert make_split(names, "70/20/10", seed=2).test != split.test


def test_2_to_1_and_kfold(kmader):
    names = [p.stem for p in (kmader / "images").iterdir()]
    two_to_one = make_split(names, "2:1")
    assert len(two_to_one.val) == 0 and len(two_to_one.test) == 67
    folds = [make_split(names, f"kfold:5:{i}") for i in range(5)]
    validation = [name for fold in folds for name in fold.val]
    assert sorted(validation) == sorted(names)  # every sample validated exactly once
    assert all(38 <= len(fold.val) <= 43 for fold in folds)
    with pytest.raises(ValueError, match="kfold:K:I"):
        make_split(names, "kfold:5")
    with pytest.raises(ValueError, match="expected train/val/test"):
        make_split(names, "lots")


def test_group_pattern_keeps_patients_together():
    msd = shared("lung-tumor-msd")
    names = [p.stem for p in (msd / "images").iterdir()]
    for seed in range(5):
        split = make_split(names, "60/20/20", seed=seed, group_pattern=r"^(\d+)_")
        cases = [{n.split("_")[0] for n in part} for part in (split.train, split.val, split.test)]
        assert not (cases[0] & cases[1]) and not (cases[0] & cases[2]) and not (cases[1] & cases[2])
        assert split.train and split.test


def test_augmentation_is_joint_and_keeps_types(kmader):
    pair = load_pair(find_pairs(kmader / "images", kmader / "masks")[0])
    plan = PreprocessPlan.fit(PreprocessConfig(image_size=128), [(pair.name, pair.image)])
    dataset = SliceDataset([pair], plan)
    image, mask = dataset.images[0], dataset.masks[0]
    config = AugmentConfig(
        hflip=1.0, affine_p=1.0, rotate_degrees=20, elastic_p=1.0, noise_p=1.0, brightness_contrast_p=1.0
    )
    transform = build_augmentation(config, seed=3)
    out_image, out_mask, _ = augment_pair(transform, image, mask)
    assert out_image.dtype == np.float32 and out_image.shape == image.shape
    assert 0 <= out_image.min() and out_image.max() <= 1
    assert set(np.unique(out_mask)) <= {0, 1} and not np.array_equal(out_mask, mask)
    # lungs stay where the (transformed) dark lung field is: the mask moved with the image
    assert out_image[out_mask > 0].mean() < out_image[out_mask == 0].mean()
    flip_only = build_augmentation(AugmentConfig(hflip=1.0, affine_p=0, brightness_contrast_p=0), seed=0)
    flipped_image, flipped_mask, _ = augment_pair(flip_only, image, mask)
    assert np.array_equal(flipped_mask, mask[:, ::-1]) and np.allclose(flipped_image, image[:, ::-1])
    assert build_augmentation(AugmentConfig(enabled=False)) is None


def test_slice_dataset_items(kmader):
    pairs = [load_pair(p) for p in find_pairs(kmader / "images", kmader / "masks")[:3]]
    plan = PreprocessPlan.fit(PreprocessConfig(image_size=64), [(p.name, p.image) for p in pairs])
    dataset = SliceDataset(pairs, plan, build_augmentation(AugmentConfig(), seed=0))
    item = dataset[1]
    assert set(item) == {"image", "mask"}
    assert item["image"].shape == item["mask"].shape == (1, 64, 64)
    assert item["image"].dtype == item["mask"].dtype == torch.float32
    assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}


def test_weight_maps_move_with_the_mask():
    """EM membranes: weight maps are cached per mask and flipped/rotated together with it."""
    em = shared("em-membrane-isbi2012")
    pairs = [load_pair(p) for p in find_pairs(em / "images", em / "masks")[:2]]
    plan = PreprocessPlan.fit(PreprocessConfig(image_size=128), [(p.name, p.image) for p in pairs])
    flip = build_augmentation(AugmentConfig(hflip=1.0, affine_p=0, brightness_contrast_p=0), seed=0)
    dataset = SliceDataset(pairs, plan, flip, border_weights=(10.0, 5.0))
    item = dataset[0]
    assert np.allclose(item["weight"][0].numpy(), dataset.weights[0][:, ::-1])
    assert np.array_equal(item["mask"][0].numpy(), dataset.masks[0][:, ::-1])
    weight, mask = dataset.weights[0], dataset.masks[0] > 0
    assert weight[~mask].max() > 5 > weight[mask].max()  # membranes between cells weigh most
