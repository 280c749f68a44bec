"""Command-line options generated from the config fields' declarations (``config.fields.setting``): help and
valid values in ``--help``, one-line errors naming the option and the valid values, and the training commands
building their config from the same options (the training itself is replaced by a recorder)."""

import dataclasses
import sys
import typing
from types import SimpleNamespace

import pytest

from lungseg.cli.main import main
from lungseg.cli.options import option_help, run_options
from lungseg.config import LossName, RunConfig, setting
from lungseg.config.fields import iter_settings

# the option names of lungseg train / classify train before they were generated from the config fields
SEGMENTATION_OPTIONS = {
    "data", "images", "masks", "config", "model", "model_arg", "encoder_weights", "epochs", "image_size",
    "batch_size", "lr", "loss", "split", "group_pattern", "seed", "max_minutes", "freeze_encoder_epochs",
    "border_weights", "ema_decay", "grad_clip", "allow_leaks", "tensorboard", "target_val_dice", "mask_labels",
    "device", "precision", "compile", "workers", "set",
}  # fmt: skip
CLASSIFICATION_ONLY = {"pretrained", "label_smoothing", "class_balance", "init_from"}
SEGMENTATION_ONLY = {
    "images", "masks", "mask_labels", "border_weights", "target_val_dice", "group_pattern", "encoder_weights",
    "allow_leaks", "tensorboard",
}  # fmt: skip


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``lungseg ARGS`` in this process (as ``python -m lungseg`` does): exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["lungseg", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def test_existing_option_names_are_kept():
    assert set(run_options("segmentation")) == SEGMENTATION_OPTIONS | {"init_from"}
    classify = set(run_options("classification"))
    assert classify == (SEGMENTATION_OPTIONS - SEGMENTATION_ONLY) | CLASSIFICATION_ONLY
    assert run_options("segmentation")["epochs"].key == "train.epochs"
    assert run_options("segmentation")["model"].key == "model.name"  # the field's option name


def test_every_option_field_has_help_and_checked_metadata():
    for key, item, _ in iter_settings(RunConfig):
        if item.metadata.get("cli"):
            assert item.metadata.get("help"), key
    fields = {key: (item, hint) for key, item, hint in iter_settings(RunConfig)}
    assert option_help(*fields["train.loss"]).endswith(f"One of: {', '.join(typing.get_args(LossName))}.")
    assert option_help(*fields["train.label_smoothing"]).endswith("Range: within [0, 1).")
    assert option_help(*fields["optim.lr"]).endswith("Range: > 0.")
    assert "cuda:N" in option_help(*fields["train.device"])
    with pytest.raises(ValueError, match="cli must name tasks"):
        setting(1, "x", cli=("detection",))
    with pytest.raises(ValueError, match="pattern_text"):
        setting("a", "x", pattern="a|b")


def test_the_config_check_uses_the_same_declarations():
    with pytest.raises(ValueError, match=r"config train.ema_decay must be within \[0, 1\), got 1.0"):
        RunConfig.from_dict({"train": {"ema_decay": 1.0}})
    with pytest.raises(ValueError, match="config train.device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"):
        RunConfig.from_dict({"train": {"device": "gpu"}})
    with pytest.raises(ValueError, match=r"config augment.marker_p must be within \[0, 1\], got 2"):
        RunConfig.from_dict({"augment": {"marker_p": 2}})
    with pytest.raises(ValueError, match="config data.mask_labels must be >= 1"):
        RunConfig.from_dict({"data": {"mask_labels": [0, 1]}})


@pytest.mark.parametrize(
    "command, options, help_texts",
    [
        (["train"], ["--loss", "--device", "--precision", "--epochs", "--config", "--set", "--resume", "--init-from"],
         ["Maximum epochs. Range: >= 1.", "One of: auto, fp32, bf16, fp16.", "Learning rate. Range: > 0."]),
        (["classify", "train"], ["--label-smoothing", "--class-balance", "--pretrained", "--epochs", "--loss"],
         ["One of: none, sampler, loss.", "Cross-entropy label smoothing. Range: within [0, 1)."]),
        (["predict"], ["--backend", "--device", "--precision", "--threshold"],
         ["One of: auto, torch, onnx.", "Range: within (0, 1).", "default: auto"]),
    ],
)  # fmt: skip
def test_help_lists_the_generated_options(monkeypatch, capsys, command, options, help_texts):
    code, out, _ = _cli(monkeypatch, capsys, *command, "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    for option in options:
        assert f"{option} " in text, option
    for help_text in help_texts:
        assert help_text in text, help_text


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "--out", "o", "--loss", "dcie"], ["'--loss'", "'dcie' is not one of bce, dice, bce_dice"]),
        (["train", "--out", "o", "--epochs", "0"], ["'--epochs'", "train.epochs must be >= 1, got 0"]),
        (["train", "--out", "o", "--epochs", "two"], ["'--epochs'", "expects a whole number, got 'two'"]),
        (["train", "--out", "o", "--device", "gpu"], ["'--device'", "auto, cpu, cuda, cuda:N or mps, got 'gpu'"]),
        (["train", "--out", "o", "--precision", "int8"], ["'--precision'", "not one of auto, fp32, bf16, fp16"]),
        (["train", "--out", "o", "--mask-labels", "0,1"], ["'--mask-labels'", "must be >= 1, got [0, 1]"]),
        (["cv", "--out", "o", "--lr", "0"], ["'--lr'", "optim.lr must be > 0, got 0.0"]),
        (["classify", "train", "--out", "o", "--class-balance", "even"], ["'--class-balance'", "none, sampler, loss"]),
        (["classify", "train", "--out", "o", "--label-smoothing", "1"], ["'--label-smoothing'", "within [0, 1)"]),
        (["predict", "in", "out", "--backend", "tf"], ["'--backend'", "'tf' is not one of auto, torch, onnx"]),
        (["evaluate", "--model", "m", "--out", "o", "--threshold", "1"], ["'--threshold'", "within (0, 1)"]),
        (["classify", "predict", "in", "--device", "tpu"], ["'--device'", "cuda:N"]),
    ],
)  # fmt: skip
def test_bad_values_are_one_line_naming_the_option_and_the_valid_values(monkeypatch, capsys, args, fragments):
    code, _, err = _cli(monkeypatch, capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: Invalid value for "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture()
def recorded(monkeypatch):
    """Replace both training entry points by a recorder of their arguments."""
    import lungseg.training
    import lungseg.training.classify_run

    calls = []
    result = SimpleNamespace(epochs_run=1, seconds=1.0, best_epoch=1, best_loss=0.5, main_process=True)

    def record(config, out, **kwargs):
        calls.append(SimpleNamespace(config=config, out=out, **kwargs))
        return result

    monkeypatch.setattr(lungseg.training, "train_run", record)
    monkeypatch.setattr(lungseg.training.classify_run, "train_classifier", record)
    return calls


def test_train_builds_its_config_from_the_options_file_and_set(monkeypatch, capsys, recorded, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("train: {tensorboard: true, loss: dice, epochs: 9}\noptim: {lr: 0.01}\n")
    code, _, err = _cli(
        monkeypatch, capsys, "train", "--out", tmp_path / "run", "--config", path, "--data", tmp_path,
        "--loss", "focal", "--set", "train.epochs=3", "--set", "optim.optimizer=sgd", "--no-tensorboard",
        "--mask-labels", "1,2", "--precision", "bf16", "--device", "CPU", "--init-from", "ct-lung",
        "--encoder-weights", "none", "--model-arg", "depth=3",
    )  # fmt: skip
    assert code == 0, err
    config = recorded[-1].config
    assert config.train.loss == "focal" and config.train.epochs == 3 and config.optim.optimizer == "sgd"
    assert config.optim.lr == 0.01 and config.train.tensorboard is False  # the file's value, then an explicit --no-
    assert config.data.data == str(tmp_path) and config.data.mask_labels == [1, 2]
    assert config.train.precision == "bf16" and config.train.device == "CPU" and config.train.init_from == "ct-lung"
    assert config.model.kwargs == {"depth": 3, "encoder_weights": "none"}

    code, _, err = _cli(monkeypatch, capsys, "train", "--out", tmp_path / "run", "--resume", "--epochs", "7")
    assert code == 0, err
    assert recorded[-1].config is None and recorded[-1].resume is True and recorded[-1].epochs == 7


def test_classify_train_takes_the_same_options_directly(monkeypatch, capsys, recorded, tmp_path):
    code, _, err = _cli(
        monkeypatch, capsys, "classify", "train", "--out", tmp_path / "run", "--data", tmp_path,
        "--label-smoothing", "0.1", "--class-balance", "loss", "--init-from", "ct-lung", "--pretrained", "none",
        "--epochs", "2", "--set", "optim.weight_decay=0.001",
    )  # fmt: skip
    assert code == 0, err
    config = recorded[-1].config
    assert config.model.task == "classification" and config.train.loss == "cross_entropy"  # classifier defaults
    assert config.train.label_smoothing == 0.1 and config.train.class_balance == "loss"
    assert config.train.init_from == "ct-lung" and config.train.epochs == 2 and config.optim.weight_decay == 0.001
    assert config.model.kwargs == {"drop_rate": 0.0, "pretrained": "none"}
    code, _, err = _cli(monkeypatch, capsys, "classify", "train", "--out", tmp_path / "run", "--tensorboard")
    assert code == 2 and "No such option: --tensorboard" in err  # segmentation-only options are not offered


def test_option_declarations_are_dataclass_fields():
    item = next(item for item in dataclasses.fields(RunConfig().train) if item.name == "epochs")
    assert (
        item.default == 20 and item.metadata["min"] == 1 and item.metadata["cli"] == ("segmentation", "classification")
    )
