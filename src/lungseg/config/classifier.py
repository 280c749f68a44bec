"""The default classifier run (``lungseg classify train`` without ``--config``).

A ResNet-18 from timm, from random weights, on gray 8-bit CT pictures letterboxed to 128 px;
class-balanced sampling over distinct slices; light augmentation (small rotations, shifts and contrast
changes; no flips: the side of a finding is anatomy, not noise); no label smoothing and no dropout;
AdamW with a cosine schedule over 60 epochs; an EMA of the weights (validated and saved). With a few
hundred distinct slices, heavier augmentation and smoothing kept the network from fitting at all on this
CPU budget (benchmarks/README.md, "Cancer-type classifier": the comparison by cross-validation).
"""

from __future__ import annotations

from lungseg.config.run import RunConfig

CLASSIFIER_DEFAULTS = {
    "data": {"split": "70/15/15"},
    "preprocess": {"intensity": "8bit", "image_size": 128},
    "augment": {
        "hflip": 0.0,
        "rotate_degrees": 4.0,
        "scale": 0.05,
        "shift": 0.03,
        "affine_p": 0.8,
        "brightness_contrast": 0.1,
        "brightness_contrast_p": 0.8,
        "noise_p": 0.0,
    },
    "model": {"name": "resnet18-classifier", "task": "classification", "kwargs": {"drop_rate": 0.0}},
    "optim": {"optimizer": "adamw", "lr": 0.001, "weight_decay": 0.0001, "scheduler": "cosine"},
    "train": {
        "epochs": 60,
        "batch_size": 16,
        "loss": "cross_entropy",
        "label_smoothing": 0.0,
        "class_balance": "sampler",
        "ema_decay": 0.98,
        "early_stopping_patience": 20,
        "max_minutes": 30.0,
    },
}


def classifier_defaults() -> RunConfig:
    return RunConfig.from_dict(CLASSIFIER_DEFAULTS)
