"""Training augmentation with albumentations, applied jointly to image and mask on the model grid.

Input: image (S, S) float32 in [0, 1] and mask (S, S) uint8 {0, 1}; output the same types. Geometric
transforms use linear interpolation for the image and nearest-neighbour for the mask, and fill with 0
(air after windowing).
"""

from __future__ import annotations

import warnings

import numpy as np

from lungseg.config import AugmentConfig


def build_augmentation(config: AugmentConfig, seed: int | None = None):
    """An albumentations ``Compose`` from the config, or None when augmentation is off."""
    if not config.enabled:
        return None
    import albumentations as A
    import cv2

    transforms = []
    if config.hflip > 0:
        transforms.append(A.HorizontalFlip(p=config.hflip))
    if config.vflip > 0:
        transforms.append(A.VerticalFlip(p=config.vflip))
    if config.affine_p > 0 and (config.rotate_degrees or config.scale or config.shift):
        transforms.append(
            A.Affine(
                scale=(1 - config.scale, 1 + config.scale),
                translate_percent=(-config.shift, config.shift),
                rotate=(-config.rotate_degrees, config.rotate_degrees),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=config.affine_p,
            )
        )
    if config.elastic_p > 0:
        transforms.append(
            A.ElasticTransform(
                alpha=30,
                sigma=6,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                p=config.elastic_p,
            )
        )
    if config.brightness_contrast > 0 and config.brightness_contrast_p > 0:
        transforms.append(
            A.RandomBrightnessContrast(
                brightness_limit=config.brightness_contrast,
                contrast_limit=config.brightness_contrast,
                p=config.brightness_contrast_p,
            )
        )
    if config.gamma_p > 0:
        transforms.append(A.RandomGamma(gamma_limit=(70, 150), p=config.gamma_p))
    if config.blur_p > 0:
        transforms.append(A.GaussianBlur(sigma_limit=(0.5, 1.5), p=config.blur_p))
    if config.noise_p > 0:
        transforms.append(A.GaussNoise(std_range=(config.noise_std / 2, config.noise_std), p=config.noise_p))
    transforms += _site_transforms(config)
    if not transforms:
        return None
    with warnings.catch_warnings():  # albumentations may warn about its own update check
        warnings.simplefilter("ignore")
        return A.Compose(transforms, seed=seed)


def _site_transforms(config: AugmentConfig) -> list:
    """What changes between X-ray sites: aspect ratio (width alone scaled), field of view and borders,
    burned-in markers, the contrast curve and the bit depth."""
    import albumentations as A
    import cv2

    transforms = []
    if config.aspect > 0 and config.aspect_p > 0:
        transforms.append(
            A.Affine(
                scale={"x": (1 - config.aspect, 1 + config.aspect), "y": (1.0, 1.0)},
                keep_ratio=False,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=config.aspect_p,
            )
        )
    if config.border_p > 0:
        transforms.append(
            A.CropAndPad(
                percent=(-0.08, 0.12), keep_size=True, sample_independently=True, fill=0, fill_mask=0, p=config.border_p
            )
        )
    if config.marker_p > 0:
        transforms.append(
            A.CoarseDropout(
                num_holes_range=(1, 3),
                hole_height_range=(0.02, 0.05),
                hole_width_range=(0.02, 0.08),
                fill=1.0,
                fill_mask=None,
                p=config.marker_p,
            )
        )
    if config.tone_p > 0:
        transforms.append(A.RandomToneCurve(scale=0.15, p=config.tone_p))
    if config.bit_depth_p > 0:
        transforms.append(_bit_depth_class()(p=config.bit_depth_p))
    return transforms


def _bit_depth_class():
    """The bit-depth transform, defined on first use so importing this module does not load albumentations."""
    import albumentations as A

    class BitDepth(A.ImageOnlyTransform):
        """Gray levels of a [0, 1] image cut to 2^5..2^7 (as an old digitiser or a careless export)."""

        def get_params(self):
            return {"levels": 2 ** self.py_random.randint(5, 7) - 1}

        def apply(self, img, levels=255, **params):
            return (np.round(img * levels) / levels).astype(img.dtype, copy=False)

        def get_transform_init_args_names(self):
            return ()

    return BitDepth


def augment_pair(transform, image: np.ndarray, mask: np.ndarray, weight: np.ndarray | None = None):
    """Apply ``transform`` to one pair (and its pixel-weight map, moved like the mask); the image stays
    float32 in [0, 1]. Returns (image, mask, weight)."""
    if transform is None:
        return image, mask, weight
    if weight is None:
        result = transform(image=image, mask=mask)
        return np.clip(result["image"], 0.0, 1.0).astype(np.float32, copy=False), result["mask"], None
    result = transform(image=image, masks=[mask, weight])
    mask, weight = result["masks"]
    return np.clip(result["image"], 0.0, 1.0).astype(np.float32, copy=False), mask, weight


def seeded_item(key, transform) -> int:
    """A dataset key -> the sample index: an int, or ``(index, seed)`` from the training sampler, which
    also seeds ``transform`` so the sample's augmentation depends only on that seed (not on the worker
    process that loads it)."""
    if isinstance(key, tuple):
        index, seed = key
        if transform is not None:
            transform.set_random_seed(int(seed))
        return int(index)
    return int(key)
