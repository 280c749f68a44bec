"""Issue 3 acceptance: every model, sizes, channels, deep supervision, encoder weights and freezing,
the border weight map, all through the same registry and training engine."""

import math
import shutil

import numpy as np
import pytest
import torch

from lungseg.config import RunConfig
from lungseg.errors import InputError
from lungseg.io import read_mask
from lungseg.losses import DeepSupervisionLoss, SoftDiceLoss, border_weight_map, build_loss
from lungseg.metrics import dice
from lungseg.models import available_models, build_model, load_checkpoint, model_from_checkpoint
from lungseg.training import train_run

ZOO = ["unet", "attention-unet", "unet++", "resnet34-unet", "efficientnet-b4-unet", "resnet34-unet++"]
SMALL = {"unet": {"base_filters": 4}, "attention-unet": {"base_filters": 4}, "unet++": {"base_filters": 4}}


def test_zoo_is_registered():
    assert set(ZOO) <= set(available_models())


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_model_every_size(name, channels):
    model = build_model(name, in_channels=channels, **SMALL.get(name, {})).eval()
    with torch.no_grad():
        for size in ((64, 64), (96, 128)):
            assert model(torch.rand(1, channels, *size)).shape == (1, 1, *size)
        with pytest.raises(ValueError, match=rf"divisible by (16|32); got shape \(1, {channels}, 100, 100\)"):
            model(torch.rand(1, channels, 100, 100))


@pytest.mark.parametrize(
    "options",
    [
        {"se": True},
        {"residual": True},
        {"bottleneck": "dilated"},
        {"se": True, "residual": True, "bottleneck": "dilated"},
    ],
)
def test_unet_block_options(options):
    plain = build_model("unet", base_filters=4)
    model = build_model("unet", base_filters=4, **options)
    assert sum(p.numel() for p in model.parameters()) > sum(p.numel() for p in plain.parameters())
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    deep = build_model("unet++", base_filters=4, **{k: v for k, v in options.items() if k != "bottleneck"})
    assert len(deep(torch.rand(2, 1, 32, 32))) == 4


def test_unknown_argument_lists_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"model 'resnet34-unet' has no argument\(s\) \['base_filters'\]; "
        r"valid: in_channels, out_channels, encoder_weights",
    ):
        build_model("resnet34-unet", base_filters=16)


def test_deep_supervision_heads_and_pruning():
    model = build_model("unet++", base_filters=4, depth=3)
    x = torch.rand(2, 1, 32, 32)
    outputs = model.train()(x)
    assert isinstance(outputs, list) and len(outputs) == 3  # one output per head in training

    model.eval()
    top = {}
    for j in (1, 2, 3):
        model.nodes[f"0_{j}"].register_forward_hook(lambda module, inputs, out, j=j: top.__setitem__(j, out))
    with torch.no_grad():
        last = model(x)  # one output in eval
        heads = [model.heads[j - 1](top[j]) for j in (1, 2, 3)]
        assert torch.equal(last, heads[2])
        model.inference_head = "mean"
        assert torch.allclose(model(x), torch.stack(heads).mean(dim=0))
        model.inference_head, model.prune_level = "last", 1
        top.clear()
        pruned = model(x)
    assert set(top) == {1}  # the pruned network never computes the deeper nodes
    assert torch.allclose(pruned, heads[0])

    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    dice = SoftDiceLoss()
    combined = DeepSupervisionLoss(dice)(outputs, target)
    assert combined.item() == pytest.approx(sum(dice(o, target).item() for o in outputs) / 3, rel=1e-5)
    assert build_loss("dice")(outputs, target).item() == pytest.approx(combined.item(), rel=1e-5)


def test_border_weight_map_by_hand():
    mask = np.zeros((5, 9), bool)
    mask[:, :3] = True
    mask[:, 6:] = True  # two objects, a 3-pixel gap in columns 3..5
    weights = border_weight_map(mask, w0=10, sigma=5)
    background, foreground = 0.5 / (15 / 45), 0.5 / (30 / 45)
    gap = background + 10 * math.exp(-(4**2) / (2 * 5**2))  # d1 + d2 = 4 in every gap column
    assert weights[:, 3:6] == pytest.approx(np.full((5, 3), gap))
    assert weights[:, :3] == pytest.approx(np.full((5, 3), foreground))
    single = border_weight_map(mask[:, :5], w0=10, sigma=5)  # one object: class balance only
    assert single[:, :3] == pytest.approx(np.full((5, 3), 0.5 / (3 / 5)))
    assert single[:, 3:] == pytest.approx(np.full((5, 2), 0.5 / (2 / 5)))


def test_local_encoder_weights_are_loaded_and_adapted(tmp_path):
    import torchvision

    reference = torchvision.models.resnet34(weights=None)  # a 3-channel state dict with an fc head
    torch.save(reference.state_dict(), tmp_path / "resnet34.pth")
    model = build_model("resnet34-unet", in_channels=1, encoder_weights=str(tmp_path / "resnet34.pth"))
    first = model.encoder.conv1.weight
    assert first.shape[1] == 1
    assert torch.allclose(first, reference.conv1.weight.sum(dim=1, keepdim=True))
    assert torch.equal(model.encoder.layer4[2].conv2.weight, reference.layer4[2].conv2.weight)
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match="wrong.pth: does not fit this encoder"):
        build_model("resnet34-unet", encoder_weights=str(tmp_path / "wrong.pth"))
    with pytest.raises(InputError, match="missing.pth: encoder weights file not found"):
        build_model("resnet34-unet", encoder_weights=str(tmp_path / "missing.pth"))


def test_freeze_then_unfreeze_on_real_ct(tmp_path, kmader_subset):
    """Epoch 1 with a frozen encoder leaves every encoder tensor (and batch-norm statistic) untouched
    while the decoder learns; epoch 2 trains the encoder too. Rebuilding from the checkpoint works
    after the local weights file is gone."""
    import torchvision

    weights = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), weights)
    config = RunConfig()
    config.data.data = str(kmader_subset)
    config.preprocess.image_size = 64
    config.model.name = "resnet34-unet"
    config.model.kwargs = {"encoder_weights": str(weights)}
    config.train.epochs, config.train.freeze_encoder_epochs = 2, 1
    run = tmp_path / "run"

    def snapshot(line):
        if line.startswith("epoch   1"):
            shutil.copy(run / "last.pt", tmp_path / "epoch1.pt")

    initial = build_model("resnet34-unet", encoder_weights=str(weights)).state_dict()
    train_run(config, run, log=snapshot)
    after_1 = load_checkpoint(tmp_path / "epoch1.pt").state_dict
    after_2 = load_checkpoint(run / "last.pt").state_dict
    encoder_keys = [k for k in initial if k.startswith("net.encoder.")]
    decoder_keys = [k for k in initial if k.startswith("net.decoder.") and initial[k].is_floating_point()]
    assert all(torch.equal(initial[k], after_1[k]) for k in encoder_keys)
    assert any(not torch.equal(initial[k], after_1[k]) for k in decoder_keys)
    assert any(not torch.equal(after_1[k], after_2[k]) for k in encoder_keys if "conv" in k)
    weights.unlink()
    rebuilt = model_from_checkpoint(load_checkpoint(run / "best.pt"))
    assert rebuilt(torch.rand(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_freezing_needs_an_encoder(tmp_path, kmader_subset):
    config = RunConfig()
    config.data.data = str(kmader_subset)
    config.train.freeze_encoder_epochs = 1
    with pytest.raises(ValueError, match="model 'unet' has no pretrained encoder"):
        train_run(config, tmp_path / "run", log=lambda line: None)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unet++", "attention-unet"])
def test_zoo_models_train_and_predict_through_the_cli(tmp_path, kmader_subset, name):
    from conftest import run_cli

    run = tmp_path / "run"
    result = run_cli(
        "train",
        "--data",
        kmader_subset,
        "--out",
        run,
        "--model",
        name,
        "--epochs",
        "6",
        "--image-size",
        "64",
        "--model-arg",
        "base_filters=8",
        "--border-weights",
    )
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(run / "best.pt").card.provenance.config["train"]["border_weights"] is True
    result = run_cli("predict", kmader_subset / "images", tmp_path / "pred", "--model", run / "best.pt")
    assert result.returncode == 0, result.stderr  # six epochs find lungs in every slice (one did not for unet++)
    written = sorted((tmp_path / "pred").glob("*.png"))
    assert len(written) == 24
    scores = [dice(read_mask(path), read_mask(kmader_subset / "masks" / f"{path.stem}.tif")) for path in written]
    # a few epochs at 8 filters: rough, but lungs (not empty, not the whole image): measured 0.61 and 0.73
    assert np.mean(scores) > 0.5 and all(read_mask(path).mean() < 0.8 for path in written), scores
