"""The run configuration's dataclasses, one per concern. Each setting's help, range and command-line option
are declared on its field (``config.fields.setting``); ``config.checks`` holds the whole-config checks."""

from __future__ import annotations

import re
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lungseg.config.checks import check_run_config
from lungseg.config.fields import BOTH, CLASSIFICATION, SEGMENTATION, setting
from lungseg.config.typed import _build, _choice

Intensity = Literal["auto", "hu", "8bit", "xray"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
# --device values (resolved by models.device), as setting() arguments of every device field
DEVICE: dict[str, Any] = {"pattern": r"auto|cpu|mps|cuda(:\d+)?", "pattern_text": "auto, cpu, cuda, cuda:N or mps"}
DEVICE_PATTERN = re.compile(DEVICE["pattern"])
LossName = Literal["bce", "dice", "bce_dice", "bce_iou", "focal", "tversky", "bce_tversky", "cross_entropy"]
Task = Literal["segmentation", "classification"]
ClassBalance = Literal["none", "sampler", "loss"]
OptimizerName = Literal["adam", "adamw", "sgd"]
SchedulerName = Literal["plateau", "cosine", "none"]
CHANCE: dict[str, Any] = {"min": 0, "max": 1}  # setting() range of a probability (or a Dice)


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

    data: str | None = setting(
        None,
        "Folder with images/ and masks/ (classify: a folder of class folders, DIR/<class>/*).",
        cli=BOTH,
        path=True,
    )
    images: str | None = setting(None, "Images folder (with --masks).", cli=SEGMENTATION, path=True)
    masks: str | None = setting(None, "Masks folder (with --images).", cli=SEGMENTATION, path=True)
    split: str = setting("70/20/10", "Train/val/test percent (70/20/10), train:test (2:1) or kfold:K:I.", cli=BOTH)
    group_pattern: str | None = setting(None, "Regex naming the patient in a file stem.", cli=SEGMENTATION)
    split_seed: int = setting(0, "Seed of the random split.")
    allow_leaks: bool = setting(False, "Train even if images repeat across splits.", cli=SEGMENTATION)
    group_duplicates: bool = setting(False, "Near-identical images (the data audit's pairs) share a split.")
    mask_labels: list[int] | None = setting(
        None,
        "Comma-separated mask values that count as foreground (e.g. 1,2); default: the mask rule in the README "
        "(non-zero for binary and label masks, half the value range for soft masks).",
        min=1,
        cli=SEGMENTATION,
    )
    mask_mapping: str | None = setting(
        None, "Multi-class masks saved as pictures: stored mask value -> class, e.g. 0:0,128:1,255:2."
    )


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
    window_width: float = setting(1500.0, "Width of the HU window.", above=0)
    image_size: int = setting(256, "Model input size (square).", min=1, cli=BOTH)
    export_center: float | None = None  # 8-bit models: the HU window that made the exports, so HU
    export_width: float | None = None  # input is mapped to look like them (benchmarks/export_window.py)
    field_of_view: Literal["full", "lungs"] = "full"  # "lungs": training images were cropped to the lungs
    percentile_low: float = setting(0.5, "xray: the percentile of each image that maps to 0.", min=0, max=100)
    percentile_high: float = setting(99.5, "xray: the percentile of each image that maps to 1.", min=0, max=100)
    clahe_clip: float = setting(0.0, "xray: CLAHE clip limit, 0 = no CLAHE.", min=0)


@dataclass
class AugmentConfig:
    """Training-time augmentation, applied jointly to image and mask (never at validation or test).
    ``*_p``, ``hflip`` and ``vflip`` are chances; the X-ray site settings (``aspect`` .. ``bit_depth_p``) are
    what changes between X-ray sites, each 0 = off."""

    enabled: bool = True
    hflip: float = setting(0.5, "Chance of a horizontal flip.", **CHANCE)
    vflip: float = setting(0.0, "Chance of a vertical flip.", **CHANCE)
    rotate_degrees: float = 10.0
    scale: float = 0.1
    shift: float = 0.05
    affine_p: float = setting(0.7, "Chance of a random rotation, scaling and shift.", **CHANCE)
    brightness_contrast: float = 0.1
    brightness_contrast_p: float = setting(0.5, "Chance of a brightness and contrast change.", **CHANCE)
    elastic_p: float = setting(0.0, "Chance of an elastic deformation.", **CHANCE)
    noise_p: float = setting(0.0, "Chance of Gaussian noise (noise_std).", **CHANCE)
    noise_std: float = 0.02
    gamma_p: float = setting(0.0, "Chance of a random gamma 0.7..1.5 (exposure of radiographs).", **CHANCE)
    blur_p: float = setting(0.0, "Chance of a Gaussian blur, sigma 0.5..1.5 model-grid pixels.", **CHANCE)
    aspect: float = setting(0.0, "Width scaled by 1 +- aspect alone (films stored stretched).", min=0, below=0.5)
    aspect_p: float = setting(0.0, "Chance of the aspect change.", **CHANCE)
    border_p: float = setting(0.0, "Chance of a crop up to 8 % or a black border up to 12 % per side.", **CHANCE)
    marker_p: float = setting(0.0, "Chance of 1-3 burned-in white boxes (side letters); mask unchanged.", **CHANCE)
    tone_p: float = setting(0.0, "Chance of a random contrast (tone) curve.", **CHANCE)
    bit_depth_p: float = setting(0.0, "Chance of gray levels cut to 5..7 bits (old digitisers).", **CHANCE)


@dataclass
class ModelConfig:
    """Registry name plus constructor keyword arguments; unset arguments take the model's defaults
    (for ``unet``: 16 base filters, depth 4, batch-norm, dropout 0.1). The checkpoint stores all of
    them, resolved, to rebuild the model. ``class_names``: the foreground classes, stored in the model
    card; one name trains a binary (sigmoid) model, K names a K-class softmax model whose masks hold
    0 (background) .. K (read by ``lungseg.io.label_maps``). ``task`` "classification": an image
    classifier (``lungseg classify``) with one logit per class name, trained on class folders."""

    name: str = setting("unet", "Model name from the registry.", cli=BOTH, option="model")
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
    lr: float = setting(3e-3, "Learning rate.", above=0, cli=BOTH)
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

    epochs: int = setting(20, "Maximum epochs.", min=1, cli=BOTH)
    batch_size: int = setting(4, "Batch size (per process under torchrun).", min=1, cli=BOTH)
    loss: LossName = setting("bce_dice", "Training loss (classifiers: cross_entropy).", cli=BOTH)
    alpha: float = setting(0.5, "Weight of BCE in the loss sums.", **CHANCE)
    early_stopping_patience: int = 6
    threshold: float = setting(0.5, "Probability above which a pixel is foreground (validation Dice).", **CHANCE)
    seed: int = setting(0, "Random seed (initial weights, augmentation, sampling).", cli=BOTH)
    max_minutes: float | None = setting(14.0, "Stop before this wall-time budget (minutes).", above=0, cli=BOTH)
    border_weights: bool = setting(False, "U-Net border weight map on the BCE term.", cli=SEGMENTATION)
    border_w0: float = 10.0
    border_sigma: float = 5.0
    freeze_encoder_epochs: int = setting(
        0, "Train the pretrained encoder frozen for N epochs, then at lr x encoder_lr_factor.", min=0, cli=BOTH
    )
    threads: int | None = setting(None, "PyTorch CPU threads (default: PyTorch's choice).", min=1)
    ema_decay: float | None = setting(
        None, "Keep an EMA of the weights with this decay (e.g. 0.99).", min=0, below=1, cli=BOTH
    )
    grad_clip: float | None = setting(None, "Clip gradients to this total L2 norm.", above=0, cli=BOTH)
    class_weights: list[float] | None = setting(None, "Multi-class: one cross-entropy weight per channel.")
    tensorboard: bool = setting(False, "Log scalars and overlays to OUT/tensorboard.", cli=SEGMENTATION)
    target_val_dice: float | None = setting(
        None, "Stop after the first epoch whose validation Dice reaches this.", **CHANCE, cli=SEGMENTATION
    )
    init_from: str | None = setting(
        None, "Start from the matching tensors of a checkpoint or shipped model (e.g. ct-lung).", cli=BOTH
    )
    label_smoothing: float = setting(0.0, "Cross-entropy label smoothing.", min=0, below=1, cli=CLASSIFICATION)
    class_balance: ClassBalance = setting(
        "none",
        "sampler: draw classes evenly; loss: weigh the cross-entropy inversely to class size.",
        cli=CLASSIFICATION,
    )
    epoch_repeats: int = setting(1, "Passes over the training set per epoch (tiny sets such as 4 X-rays).", min=1)
    samples_per_epoch: int | None = setting(
        None, "Draw this many training samples per epoch, another random subset each epoch (large sets).", min=1
    )
    device: str = setting(
        "auto", "Where to train (auto: CUDA when PyTorch sees a GPU, else the CPU).", **DEVICE, cli=BOTH
    )
    precision: Precision = setting(
        "auto",
        "auto: bf16 autocast on a CUDA GPU, fp16 with a gradient scaler on older GPUs, fp32 elsewhere.",
        cli=BOTH,
    )
    compile: bool = setting(False, "torch.compile the model (falls back with a warning where unsupported).", cli=BOTH)
    workers: int | None = setting(
        None, "DataLoader worker processes (default: 0 on the CPU, up to 8 with a GPU).", min=0, cli=BOTH
    )


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
        """Choices, ranges and patterns (declared on the fields) and the rules between settings that no run can
        use, as ``ValueError`` naming the key (``config.checks``); the model and split specs are checked by the
        layers that own them, still before any data is read."""
        check_run_config(self)
