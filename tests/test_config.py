import pytest

from lungseg.config import RunConfig, dump_config, load_config


def test_defaults_round_trip_through_yaml(tmp_path):
    config = RunConfig()
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\nmodel:\n  kwargs: {base_filters: 32}\n")
    config = load_config(path)
    assert config.train.epochs == 3
    assert config.model.kwargs == {"base_filters": 32}
    assert config.optim.lr == RunConfig().optim.lr


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  epohcs: 4\n")
    with pytest.raises(ValueError, match=r"c.yaml: config.train: unknown key\(s\) \['epohcs'\]"):
        load_config(path)


@pytest.mark.parametrize(
    "text, where",
    [
        ("train: {epochs: many}", "config.train.epochs"),
        ("train: {epochs: 2.5}", "config.train.epochs"),
        ("augment: {enabled: 1}", "config.augment.enabled"),
        ("preprocess: 3", "config.preprocess"),
    ],
)
def test_wrong_types_are_named(tmp_path, text, where):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=where.replace(".", r"\.")):
        load_config(path)


def test_json_config_and_optional_values(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"train": {"max_minutes": null, "seed": 7}, "data": {"group_pattern": "^(\\\\d+)_"}}')
    config = load_config(path)
    assert config.train.max_minutes is None and config.train.seed == 7
    assert config.data.group_pattern == r"^(\d+)_"


def test_settings_override_the_config_file_both_ways(tmp_path):
    from lungseg.config import merge_config, parse_assignment

    path = tmp_path / "config.yaml"
    path.write_text("train: {border_weights: true, tensorboard: true}\ndata: {allow_leaks: true}\n")
    config = merge_config(
        path,
        {"train.border_weights": False, "train.tensorboard": None, "data.allow_leaks": None, "train.ema_decay": 0.99},
        {"base_filters": 8},
    )
    assert config.train.border_weights is False  # an explicit --no-border-weights wins
    assert config.train.tensorboard is True and config.data.allow_leaks is True  # flags not given keep the file's
    assert config.train.ema_decay == 0.99 and config.model.kwargs == {"base_filters": 8}
    assert parse_assignment("optim.lr=1e-3", "--set") == ("optim.lr", 0.001)
    assert parse_assignment("optim.optimizer=sgd", "--set") == ("optim.optimizer", "sgd")
    with pytest.raises(ValueError, match="unknown setting 'optim'"):
        merge_config(None, {"optim": 1})
    with pytest.raises(ValueError, match="unknown key"):
        merge_config(None, {"optim.learning_rate": 1})
    with pytest.raises(ValueError, match="--set expects KEY=VALUE"):
        parse_assignment("optim.lr", "--set")


def test_enumerations_are_checked_when_the_config_is_built():
    import typing

    from lungseg.config import LossName, RunConfig
    from lungseg.losses.segmentation import LOSSES

    # one list of loss names, and each is implemented (cross_entropy: losses.ClassificationLoss, classifiers)
    assert set(LOSSES) | {"cross_entropy"} == set(typing.get_args(LossName))
    with pytest.raises(ValueError, match="does not fit model.task"):
        RunConfig.from_dict({"train": {"loss": "cross_entropy"}})
    with pytest.raises(ValueError, match="config.train.loss: 'dcie' is not one of bce, dice"):
        RunConfig.from_dict({"train": {"loss": "dcie"}})
    with pytest.raises(ValueError, match="config.optim.scheduler: 'step' is not one of plateau, cosine, none"):
        RunConfig.from_dict({"optim": {"scheduler": "step"}})
    config = RunConfig()
    config.preprocess.intensity = "rgb"  # set directly, then checked before a run starts
    with pytest.raises(ValueError, match="config preprocess.intensity: 'rgb' is not one of auto, hu, 8bit"):
        config.check_values()
