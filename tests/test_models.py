import pytest
import torch

from lungseg.errors import InputError
from lungseg.model_card import ModelCard, ModelSpec, Provenance
from lungseg.models import (
    Checkpoint,
    UNet,
    available_models,
    build_model,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from lungseg.preprocessing import PreprocessPlan


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"base_filters": 8, "depth": 3, "upsampling": "bilinear"},
        {"base_filters": 8, "depth": 2, "batch_norm": False, "dropout": 0.2},
        {"in_channels": 3, "out_channels": 2, "base_filters": 4},
    ],
)
def test_unet_returns_logits_of_input_size(kwargs):
    model = build_model("unet", **kwargs).eval()
    x = torch.rand(2, kwargs.get("in_channels", 1), 64, 96)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, kwargs.get("out_channels", 1), 64, 96)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()


def test_unet_options_change_the_network():
    plain = UNet(base_filters=16)
    assert sum(p.numel() for p in UNet(base_filters=32).parameters()) > 3.5 * sum(p.numel() for p in plain.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in UNet(batch_norm=False).modules())
    assert any(isinstance(m, torch.nn.Dropout2d) for m in UNet(dropout=0.3).modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in UNet().modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in UNet(upsampling="bilinear").modules())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"divisible by 16; got shape \(1, 1, 100, 100\)"):
        UNet()(torch.zeros(1, 1, 100, 100))
    with pytest.raises(ValueError, match="upsampling must be"):
        UNet(upsampling="nearest")
    with pytest.raises(ValueError, match="depth must be >= 1"):
        UNet(depth=0)


def test_registry_lists_valid_names():
    assert "unet" in available_models()
    with pytest.raises(ValueError, match="unknown model 'unet3000'; available models: .*unet"):
        build_model("unet3000")


def test_checkpoint_rebuilds_the_same_model(tmp_path):
    kwargs = {"base_filters": 4, "depth": 2}
    model = build_model("unet", **kwargs).eval()
    plan = PreprocessPlan("hu", -600.0, 1500.0, 32)
    card = ModelCard(ModelSpec("unet", kwargs), plan, provenance=Provenance(epoch=3))
    save_checkpoint(tmp_path / "m.pt", Checkpoint.of_model(card, model))
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.card == card and loaded.card.spec.to_dict() == {"name": "unet", "kwargs": kwargs}
    rebuilt = model_from_checkpoint(loaded)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))
    assert not list(tmp_path.glob(".tmp-*"))  # atomic write left no temporary file


def test_foreign_checkpoints_are_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt: not a readable lungseg checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="other.pt: not a complete lungseg checkpoint: missing format"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(InputError, match="none.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
