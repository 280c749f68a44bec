import pytest
import torch

from lungseg.losses import LOSSES, SoftDiceLoss, SoftIoULoss, build_loss


def _target():
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    return target


def test_soft_dice_and_iou_by_hand():
    target = _target()
    logits = torch.full_like(target, 0.0)  # p = 0.5 everywhere
    # per sample: intersection 8, |P| 32, |T| 16
    assert SoftDiceLoss(eps=0)(logits, target).item() == pytest.approx(1 - 16 / 48)
    assert SoftIoULoss(eps=0)(logits, target).item() == pytest.approx(1 - 8 / 40)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_prefer_the_right_answer(name):
    target = _target()
    good = (target * 2 - 1) * 10
    bad = -good
    loss = build_loss(name)
    assert loss(good, target).item() < 0.01 < loss(bad, target).item()
    logits = torch.zeros_like(target, requires_grad=True)
    loss(logits, target).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_alpha_weights_bce():
    target, logits = _target(), torch.randn(2, 1, 8, 8)
    bce = build_loss("bce")(logits, target)
    dice = build_loss("dice")(logits, target)
    assert build_loss("bce_dice", alpha=0.3)(logits, target).item() == pytest.approx(
        0.3 * bce.item() + 0.7 * dice.item(), rel=1e-5
    )
    assert build_loss("bce_dice", alpha=1.0)(logits, target).item() == pytest.approx(bce.item(), rel=1e-5)


def test_empty_target_and_empty_prediction_cost_nothing():
    target = torch.zeros(1, 1, 8, 8)
    assert SoftDiceLoss()(torch.full_like(target, -20.0), target).item() < 1e-3


def test_bad_names_and_shapes():
    with pytest.raises(
        ValueError,
        match="unknown loss 'hinge'; available losses: bce, bce_dice, bce_iou, bce_tversky, dice, focal, tversky",
    ):
        build_loss("hinge")
    with pytest.raises(ValueError, match="alpha must be in"):
        build_loss("bce_dice", alpha=2)
    with pytest.raises(ValueError, match="differ in shape"):
        build_loss("dice")(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
