"""The run configuration's dataclasses, one per concern, and the whole-config value checks."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lungseg.config.typed import _build, _choice

Intensity = Literal["auto", "hu", "8bit", "xray"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # --device values (resolved by models.device)
LossName = Literal["bce", "dice", "bce_dice", "bce_iou", "focal", "tversky", "bce_tversky", "cross_entropy"]
Task = Literal["segmentation", "classification"]
ClassBalance = Literal["none", "sampler", "loss"]
OptimizerName = Literal["adam", "adamw", "sgd"]
SchedulerName = Literal["plateau", "cosine", "none"]


@dataclass
class DataConfig:
    """Where the image/mask pairs are and how they are split.

    ``split``: ``"70/20/10"`` (train/val/test percent, any three numbers), ``"2:1"`` (train:test, no
    validation set), or ``"kfold:K:I"`` (K folds, fold I is the validation set, no test set).
    ``group_pattern``: a regex whose first group (or whole match) applied to a file stem names the
    patient; all slices of one patient land in one split. ``allow_leaks``: train even when the data
    check finds the same (or a near-identical) image in two subsets of the split. ``mask_labels``: the
    mask values that count as foreground (e.g. ``[2]`` for the left lung of a label map); None applies
    the mask rule of ``lungseg.io.masks`` (non-zero for binary and label masks, half the value range
    for soft masks). ``group_duplicates``: put images the data audit finds identical or near-identical
    (neighbouring slices of one patient in sets without patient IDs) in one group, so they never land
    in different splits.
    """

    data: str | None = None
    images: str | None = None
    masks: str | None = None
    split: str = "70/20/10"
    group_pattern: str | None = None
    split_seed: int = 0
    allow_leaks: bool = False
    group_duplicates: bool = False  # near-identical images (the data audit's pairs) share a split
    mask_labels: list[int] | None = None
    mask_mapping: str | None = None  # multi-class masks stored as pictures: "0:0,128:1,255:2"


@dataclass
class PreprocessConfig:
    """Intensity handling and model input size.

    ``intensity``: ``"auto"`` decides per training set (HU if values leave 0..255), ``"hu"``, ``"8bit"``
    or ``"xray"`` (radiographs: never chosen by ``auto``, since 8-bit X-ray exports look like CT exports).
    HU input is clipped to the window ``[center - width/2, center + width/2]`` and scaled to [0, 1];
    radiographs are scaled from their ``percentile_low``..``percentile_high`` range to [0, 1], then
    equalised with CLAHE at ``clahe_clip`` (0 = off).
    """

    intensity: Intensity = "auto"
    window_center: float = -600.0
    window_width: float = 1500.0
    image_size: int = 256
    export_center: float | None = None  # 8-bit models: the HU window that made the exports, so HU
    export_width: float | None = None  # input is mapped to look like them (benchmarks/export_window.py)
    field_of_view: Literal["full", "lungs"] = "full"  # "lungs": training images were cropped to the lungs
    percentile_low: float = 0.5  # "xray": these percentiles of each image map to 0 and 1
    percentile_high: float = 99.5
    clahe_clip: float = 0.0  # "xray": CLAHE clip limit, 0 = no CLAHE


@dataclass
class AugmentConfig:
    """Training-time augmentation, applied jointly to image and mask (never at validation or test)."""

    enabled: bool = True
    hflip: float = 0.5
    vflip: float = 0.0
    rotate_degrees: float = 10.0
    scale: float = 0.1
    shift: float = 0.05
    affine_p: float = 0.7
    brightness_contrast: float = 0.1
    brightness_contrast_p: float = 0.5
    elastic_p: float = 0.0
    noise_p: float = 0.0
    noise_std: float = 0.02
    gamma_p: float = 0.0  # random gamma 0.7..1.5 (exposure of radiographs)
    blur_p: float = 0.0  # Gaussian blur, sigma 0.5..1.5 model-grid pixels (sharpness of the film/detector)
    # what changes between X-ray sites (each 0 = off):
    aspect: float = 0.0  # width scaled by 1 +- aspect alone (films stored stretched; portrait vs landscape)
    aspect_p: float = 0.0
    border_p: float = 0.0  # field of view: each side cropped up to 8 % or padded up to 12 % with a black border
    marker_p: float = 0.0  # burned-in markers: 1-3 small white boxes (side letters, labels); mask unchanged
    tone_p: float = 0.0  # a random contrast (tone) curve
    bit_depth_p: float = 0.0  # gray levels cut to 5..7 bits (old digitisers, exports)


@dataclass
class ModelConfig:
    """Registry name plus constructor keyword arguments; unset arguments take the model's defaults
    (for ``unet``: 16 base filters, depth 4, batch-norm, dropout 0.1). The checkpoint stores all of
    them, resolved, to rebuild the model. ``class_names``: the foreground classes, stored in the model
    card; one name trains a binary (sigmoid) model, K names a K-class softmax model whose masks hold
    0 (background) .. K (read by ``lungseg.io.label_maps``). ``task`` "classification": an image
    classifier (``lungseg classify``) with one logit per class name, trained on class folders."""

    name: str = "unet"
    task: Task = "segmentation"
    kwargs: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=lambda: ["lung"])

    @property
    def channels(self) -> int:
        """Output channels of the network (``output_channels``)."""
        return output_channels(self.task, len(self.class_names))


def output_channels(task: str, class_count: int) -> int:
    """Output channels of a network for ``task`` with ``class_count`` class names: a classifier has one
    logit per class; a segmentation model 1 (sigmoid) for one class, K + 1 (softmax, background first)
    for K. The one place this rule is written (``ModelConfig`` and ``ModelCard`` use it)."""
    _choice(task, typing.get_args(Task), "task")
    if class_count < 1:
        raise ValueError(f"class_count must be at least 1, got {class_count!r}")
    if task == "classification":
        return class_count
    return 1 if class_count == 1 else class_count + 1


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    optimizer: OptimizerName = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: SchedulerName = "cosine"
    encoder_lr_factor: float = 0.1
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    min_lr: float = 1e-5


@dataclass
class TrainConfig:
    """Loop settings. ``loss``: one of ``LossName`` (implemented in ``lungseg.losses``);
    ``alpha`` weighs BCE in the sums. ``border_weights`` weighs BCE/focal pixels with the U-Net
    paper's map (``border_w0``, ``border_sigma`` in model-grid pixels). ``freeze_encoder_epochs``
    trains a pretrained encoder frozen for that many epochs, then with lr x ``optim.encoder_lr_factor``.
    ``ema_decay`` (e.g. 0.99) keeps an exponential moving average of the weights, which is validated
    and saved as best; ``grad_clip`` clips gradients to that total L2 norm; ``tensorboard`` writes
    scalars and example overlays per epoch to ``RUN/tensorboard``. ``target_val_dice`` stops the run
    after the first epoch whose validation Dice (model grid) reaches it. ``init_from`` starts from the
    weights of a checkpoint or shipped model (every tensor whose name and shape match, e.g. a lesion
    model from the CT lung model) instead of random ones. Classification only: ``label_smoothing`` and
    ``class_balance`` ("sampler": each class drawn equally often; "loss": cross-entropy weighed inversely
    to the class's distinct-slice count; "none"). Classification samples are always drawn with weight
    1 / (copies of their slice), so a slice stored ten times counts once.
    """

    epochs: int = 20
    batch_size: int = 4
    loss: LossName = "bce_dice"
    alpha: float = 0.5
    early_stopping_patience: int = 6
    threshold: float = 0.5
    seed: int = 0
    max_minutes: float | None = 14.0
    border_weights: bool = False
    border_w0: float = 10.0
    border_sigma: float = 5.0
    freeze_encoder_epochs: int = 0
    threads: int | None = None
    ema_decay: float | None = None
    grad_clip: float | None = None
    class_weights: list[float] | None = None  # multi-class: one cross-entropy weight per channel
    tensorboard: bool = False
    target_val_dice: float | None = None
    init_from: str | None = None  # checkpoint or shipped model name whose matching tensors start the run
    label_smoothing: float = 0.0  # classification: cross-entropy label smoothing
    class_balance: ClassBalance = "none"  # classification: "sampler" draws classes evenly, "loss" weighs them
    epoch_repeats: int = 1  # passes over the training set per epoch (tiny sets such as 4 X-rays)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps (models.device)
    precision: Precision = "auto"  # auto (bf16 on a CUDA GPU, fp16 on older GPUs, fp32 elsewhere) | fp32 | bf16 | fp16
    compile: bool = False  # torch.compile the model (falls back with a warning where unsupported)
    workers: int | None = None  # DataLoader worker processes; None: 0 on the CPU, up to 8 with a GPU


@dataclass
class RunConfig:
    """Everything that defines a training run; written to ``RUN/config.yaml`` and every checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        config = _build(cls, values, "config")
        config.check_values()
        return config

    def check_values(self) -> None:
        """Enumerations, ranges and patterns that no run can use, as ``ValueError`` naming the key (the
        model and split specs are checked by the layers that own them, still before any data is read)."""
        import re

        for section in dataclasses.fields(self):  # enumerations, also when a field was set directly
            part = getattr(self, section.name)
            for name, hint in typing.get_type_hints(type(part)).items():
                if typing.get_origin(hint) is Literal:
                    _choice(getattr(part, name), typing.get_args(hint), f"config {section.name}.{name}")
        positive = {
            "train.epochs": self.train.epochs,
            "train.batch_size": self.train.batch_size,
            "train.epoch_repeats": self.train.epoch_repeats,
            "preprocess.image_size": self.preprocess.image_size,
            "preprocess.window_width": self.preprocess.window_width,
            "optim.lr": self.optim.lr,
        }
        if self.train.max_minutes is not None:
            positive["train.max_minutes"] = self.train.max_minutes
        if self.train.threads is not None:
            positive["train.threads"] = self.train.threads
        for key, value in positive.items():
            if not value > 0:
                raise ValueError(f"config {key} must be positive, got {value!r}")
        pre = self.preprocess
        if not 0 <= pre.percentile_low < pre.percentile_high <= 100 or pre.clahe_clip < 0:
            raise ValueError(
                f"config preprocess.percentile_low/percentile_high must satisfy 0 <= low < high <= 100 "
                f"and clahe_clip >= 0, got {pre.percentile_low}/{pre.percentile_high}, {pre.clahe_clip}"
            )
        if not DEVICE_PATTERN.fullmatch(str(self.train.device).lower()):
            raise ValueError(f"config train.device must be auto, cpu, cuda, cuda:N or mps, got {self.train.device!r}")
        if self.train.workers is not None and self.train.workers < 0:
            raise ValueError(f"config train.workers must be >= 0, got {self.train.workers!r}")
        if not 0 <= self.train.label_smoothing < 1:
            raise ValueError(f"config train.label_smoothing must be within [0, 1), got {self.train.label_smoothing!r}")
        if (self.train.loss == "cross_entropy") != (self.model.task == "classification"):
            raise ValueError(
                f"config train.loss {self.train.loss!r} does not fit model.task {self.model.task!r} "
                "(classifiers train with cross_entropy, segmentation models with the others)"
            )
        chances = {
            f"augment.{f.name}": getattr(self.augment, f.name)
            for f in dataclasses.fields(self.augment)
            if f.name.endswith("_p") or f.name in ("hflip", "vflip")
        }
        if not 0 <= self.augment.aspect < 0.5:
            raise ValueError(f"config augment.aspect must be within [0, 0.5), got {self.augment.aspect!r}")
        for key, value in {"train.alpha": self.train.alpha, "train.threshold": self.train.threshold, **chances}.items():
            if not 0 <= value <= 1:
                raise ValueError(f"config {key} must be within 0..1, got {value!r}")
        if self.data.group_pattern:
            try:
                re.compile(self.data.group_pattern)
            except re.error as exc:
                raise ValueError(
                    f"config data.group_pattern {self.data.group_pattern!r} is not a valid regular expression ({exc})"
                ) from exc
        if self.data.mask_labels is not None and (not self.data.mask_labels or min(self.data.mask_labels) < 1):
            raise ValueError(f"config data.mask_labels must be positive labels, got {self.data.mask_labels!r}")
        names = self.model.class_names
        if (
            not names
            or len(names) > 254
            or len(set(names)) != len(names)
            or not all(isinstance(name, str) and name.strip() for name in names)
        ):
            raise ValueError(f"config model.class_names must be 1..254 different names, got {names!r}")
        weights = self.train.class_weights
        if weights is not None and (len(weights) != self.model.channels or min(weights) < 0 or len(names) == 1):
            raise ValueError(
                f"config train.class_weights needs one non-negative weight per output channel "
                f"({self.model.channels}, background first) of a multi-class model, got {weights!r}"
            )
        if self.data.mask_mapping and not re.fullmatch(r"\s*\d+:\d+(\s*,\s*\d+:\d+)*\s*", self.data.mask_mapping):
            raise ValueError(
                f"config data.mask_mapping must be STORED:CLASS pairs like 0:0,128:1,255:2, got "
                f"{self.data.mask_mapping!r}"
            )
