"""Typed run configuration: one dataclass per concern, read from YAML/JSON and written into every run.

Unknown keys and values of the wrong kind raise ``ValueError`` naming the key, so a typo in a config
file never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Intensity = Literal["auto", "hu", "8bit"]
LossName = Literal["bce", "dice", "bce_dice", "bce_iou", "focal", "tversky", "bce_tversky"]
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
    for soft masks).
    """

    data: str | None = None
    images: str | None = None
    masks: str | None = None
    split: str = "70/20/10"
    group_pattern: str | None = None
    split_seed: int = 0
    allow_leaks: bool = False
    mask_labels: list[int] | None = None
    mask_mapping: str | None = None  # multi-class masks stored as pictures: "0:0,128:1,255:2"


@dataclass
class PreprocessConfig:
    """Intensity handling and model input size.

    ``intensity``: ``"auto"`` decides per training set (HU if values leave 0..255), ``"hu"`` or ``"8bit"``.
    HU input is clipped to the window ``[center - width/2, center + width/2]`` and scaled to [0, 1].
    """

    intensity: Intensity = "auto"
    window_center: float = -600.0
    window_width: float = 1500.0
    image_size: int = 256


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


@dataclass
class ModelConfig:
    """Registry name plus constructor keyword arguments; unset arguments take the model's defaults
    (for ``unet``: 16 base filters, depth 4, batch-norm, dropout 0.1). The checkpoint stores all of
    them, resolved, to rebuild the model. ``class_names``: the foreground classes, stored in the model
    card; one name trains a binary (sigmoid) model, K names a K-class softmax model whose masks hold
    0 (background) .. K (read by ``lungseg.io.label_maps``)."""

    name: str = "unet"
    kwargs: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=lambda: ["lung"])

    @property
    def channels(self) -> int:
        """Output channels: 1 (sigmoid) for one class, K + 1 (softmax, background first) for K."""
        return 1 if len(self.class_names) == 1 else len(self.class_names) + 1


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
    after the first epoch whose validation Dice (model grid) reaches it.
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
        positive = {"train.epochs": self.train.epochs, "train.batch_size": self.train.batch_size,
                    "preprocess.image_size": self.preprocess.image_size, "preprocess.window_width":
                    self.preprocess.window_width, "optim.lr": self.optim.lr}
        if self.train.max_minutes is not None:
            positive["train.max_minutes"] = self.train.max_minutes
        if self.train.threads is not None:
            positive["train.threads"] = self.train.threads
        for key, value in positive.items():
            if not value > 0:
                raise ValueError(f"config {key} must be positive, got {value!r}")
        for key, value in {"train.alpha": self.train.alpha, "train.threshold": self.train.threshold}.items():
            if not 0 <= value <= 1:
                raise ValueError(f"config {key} must be within 0..1, got {value!r}")
        if self.data.group_pattern:
            try:
                re.compile(self.data.group_pattern)
            except re.error as exc:
                raise ValueError(f"config data.group_pattern {self.data.group_pattern!r} is not a valid regular "
                                 f"expression ({exc})") from exc
        if self.data.mask_labels is not None and (not self.data.mask_labels or min(self.data.mask_labels) < 1):
            raise ValueError(f"config data.mask_labels must be positive labels, got {self.data.mask_labels!r}")
        names = self.model.class_names
        if not names or len(names) > 254 or len(set(names)) != len(names) or not all(
                isinstance(name, str) and name.strip() for name in names):
            raise ValueError(f"config model.class_names must be 1..254 different names, got {names!r}")
        weights = self.train.class_weights
        if weights is not None and (len(weights) != self.model.channels or min(weights) < 0 or len(names) == 1):
            raise ValueError(f"config train.class_weights needs one non-negative weight per output channel "
                             f"({self.model.channels}, background first) of a multi-class model, got {weights!r}")
        if self.data.mask_mapping and not re.fullmatch(r"\s*\d+:\d+(\s*,\s*\d+:\d+)*\s*", self.data.mask_mapping):
            raise ValueError(f"config data.mask_mapping must be STORED:CLASS pairs like 0:0,128:1,255:2, got "
                             f"{self.data.mask_mapping!r}")


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(known)}")
    built = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in values.items()}
    return cls(**built)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return _choice(value, typing.get_args(hint), where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, where)
            except ValueError:
                continue
        raise ValueError(f"{where}: {value!r} is not a valid {hint}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_coerce(item, entry, f"{where}[{index}]") for index, entry in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true/false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise ValueError(f"{where}: expected a whole number, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _choice(value: Any, choices: tuple, where: str) -> Any:
    if value not in choices:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
    return value


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML or JSON config file; missing sections and keys keep their defaults."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read config ({exc.strerror})") from exc
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: not valid YAML/JSON ({exc})") from exc
    try:
        return RunConfig.from_dict(values or {})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def parse_assignment(text: str, option: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> (KEY, VALUE read as JSON where it parses: numbers, true/false, null, lists; else
    the text). ``option`` names the command-line option in the error."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{option} expects KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


def merge_config(config_file: str | Path | None, settings: dict[str, Any],
                 model_kwargs: dict[str, Any] | None = None) -> RunConfig:
    """The config file (or the defaults), then ``settings`` (``"section.key"`` -> value; None means not
    given), then ``model_kwargs`` added to ``model.kwargs``; the result is validated as a whole."""
    values = (load_config(config_file) if config_file else RunConfig()).to_dict()
    for dotted, value in settings.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if not isinstance(values.get(section), dict) or not key or section == "model" and key == "kwargs":
            raise ValueError(f"unknown setting {dotted!r}: settings are SECTION.KEY with a section of "
                             f"{', '.join(name for name in values if name != 'model')} or model.name")
        values[section][key] = str(value) if isinstance(value, Path) else value
    values["model"]["kwargs"].update(model_kwargs or {})
    return RunConfig.from_dict(values)


def dump_config(config: RunConfig) -> str:
    """The config as YAML text (what ``RUN/config.yaml`` holds)."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)
