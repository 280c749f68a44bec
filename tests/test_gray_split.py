"""covid-infection-types as covid-infection's mask split by one gray level (``models.gray_split``,
tools/gray_split_types.py; issue 26)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import load_script, shared

COVID = shared("covid-infection", "train")


def test_the_fitted_level_is_the_best_split_of_the_two_classes():
    from lungseg.models.gray_split import fit_gray_level

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32)).astype(np.uint8) for _ in range(3)]
    masks = [rng.integers(0, 3, (32, 32)) for _ in range(3)]
    lower = np.concatenate([i[m == 1] for i, m in zip(images, masks)])
    upper = np.concatenate([i[m == 2] for i, m in zip(images, masks)])
    brute = [(lower < t).sum() + (upper >= t).sum() for t in range(256)]
    assert fit_gray_level(images, masks) == int(np.argmax(brute))
    clean = [np.array([[10, 20, 200, 210]], np.uint8)]
    assert 20 < fit_gray_level(clean, [np.array([[1, 1, 2, 2]])]) <= 200
    with pytest.raises(ValueError, match="both classes"):
        fit_gray_level(clean, [np.array([[1, 1, 0, 0]])])


def test_the_split_model_is_the_binary_mask_typed_by_gray_level():
    """Softmax of its logits: (1 - p, p, 0) below the level and (1 - p, 0, p) at or above."""
    from lungseg.models import build_model

    model = build_model("gray-split-unet", level=0.6, base_filters=4, depth=2).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        split = model(x).softmax(1)
        p = torch.sigmoid(model.unet(x))[:, 0]
    torch.testing.assert_close(split[:, 0], 1 - p)
    torch.testing.assert_close(split[:, 1] + split[:, 2], p)
    assert bool(((split[:, 2] > 1e-6) == (x[:, 0] >= 0.6)).all())
    with pytest.raises(ValueError, match="level must be in"):
        build_model("gray-split-unet", level=149)


def test_shipped_types_outline_the_infection_of_covid_infection_and_type_it_by_density():
    """On a real labelled slice: the lesion pixels of covid-infection-types are covid-infection's mask, and
    its ground glass lies below the stored level, its consolidation at or above (both models run as users
    run them, ONNX, on the slice's own grid)."""
    from lungseg.inference import Predictor
    from lungseg.io import read_image

    binary, types = Predictor.load("covid-infection"), Predictor.load("covid-infection-types")
    level = types.card.spec.kwargs["level"] * 255
    assert 120 < level < 180  # about -280 HU in the export window: the ground glass / consolidation boundary
    image = read_image(COVID / "images" / "1.jpg")
    image = image if image.ndim == 2 else image[..., 0]
    mask = binary.predict([image])[0]
    classes = types.classes([image])[0]
    assert mask.sum() > 500
    agree = ((classes > 0) == mask).mean()
    assert agree > 0.995, agree
    # the gray level is read on the model's 256-px grid (the lung crop resampled), so on the slice's own grid
    # speckle and edges stray a few levels across it
    assert (image[classes == 1] < level + 8).mean() > 0.93
    assert (image[classes == 2] >= level - 8).mean() > 0.93
    assert image[classes == 1].mean() + 40 < level < image[classes == 2].mean()
    assert (classes == 1).any() and (classes == 2).any()


@pytest.mark.slow
def test_the_tool_rebuilds_the_shipped_types_from_the_shipped_binary(tmp_path):
    """tools/gray_split_types.py on the shipped covid-infection (trained on all 50 typed slices) fits the
    shipped level and writes the shipped weights."""
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    tool = load_script("tools/gray_split_types.py")
    level = tool.build(resolve_model("covid-infection"), COVID, tmp_path)
    shipped = load_checkpoint(resolve_model("covid-infection-types"))
    assert level == round(shipped.card.spec.kwargs["level"] * 255)
    built = load_checkpoint(tmp_path / "best.pt")
    assert built.card.spec == shipped.card.spec and built.card.class_names == shipped.card.class_names
    assert all(torch.equal(built.state_dict[k], shipped.state_dict[k]) for k in shipped.state_dict)
    assert (tmp_path / "config.yaml").is_file()
