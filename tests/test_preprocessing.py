import numpy as np
import pytest

from conftest import shared
from lungseg.config import PreprocessConfig
from lungseg.errors import InputError
from lungseg.io import read_image, read_mask
from lungseg.metrics import dice
from lungseg.preprocessing import (
    WINDOWS,
    PreprocessPlan,
    apply_window,
    intensity_kind,
    invert_window,
    mask_to_model_grid,
    restore_mask,
    restore_probability,
    to_model_grid,
)


def test_hu_and_8bit_are_told_apart(kmader):
    assert intensity_kind(read_image(kmader / "images" / "ID_0000_Z_0142.tif")) == "hu"
    assert intensity_kind(read_image(shared("covid-infection", "train", "images", "0.jpg"))) == "8bit"
    assert intensity_kind(read_image(shared("xray-lung-montgomery", "images", "1.jpg"))) == "8bit"
    assert intensity_kind(np.array([[0, 255]], dtype=np.int16)) == "8bit"
    assert intensity_kind(np.array([[-1024, 400]], dtype=np.int16)) == "hu"


def test_lung_and_body_windows():
    center, width = WINDOWS["lung"]
    assert (center, width) == (-600, 1500)
    hu = np.array([-2000, -1350, -600, 150, 3000], dtype=np.int16)
    assert apply_window(hu, center, width).tolist() == pytest.approx([0, 0, 0.5, 1, 1])
    body = apply_window(np.array([-160, 40, 240]), *WINDOWS["body"])
    assert body.tolist() == pytest.approx([0, 0.5, 1])
    with pytest.raises(ValueError, match="width"):
        apply_window(hu, 0, 0)


def test_window_inverse_inside_the_window(kmader):
    image = read_image(kmader / "images" / "ID_0001_Z_0146.tif")
    scaled = apply_window(image, -600, 1500)
    restored = invert_window(scaled, -600, 1500)
    inside = (image > -1350) & (image < 150)
    assert np.abs(restored[inside] - image[inside]).max() < 0.01


def test_resize_round_trip_on_non_square_real_mask():
    mask = read_mask(shared("covid-infection", "train", "masks_infection", "0.png"))
    image = read_image(shared("covid-infection", "train", "images", "0.jpg"))
    assert mask.shape == (369, 273)
    model_input, box = to_model_grid(image / 255.0, 256)
    assert model_input.shape == (256, 256) and box.side == 369
    small = mask_to_model_grid(mask, box)
    assert small.shape == (256, 256)
    back = restore_mask(small, box)
    assert back.shape == mask.shape
    assert dice(back > 0, mask) > 0.95
    probability = restore_probability(small.astype(np.float32), box)
    assert probability.shape == mask.shape and dice(probability > 0.5, mask) > 0.95


def test_plan_fits_replays_and_refuses_wrong_kind(kmader):
    ct = read_image(kmader / "images" / "ID_0000_Z_0142.tif")
    picture = read_image(shared("xray-lung-montgomery", "images", "1.jpg"))
    plan = PreprocessPlan.fit(PreprocessConfig(), [("ct", ct)])
    assert plan.intensity == "hu" and plan.image_size == 256
    again = PreprocessPlan.from_dict(plan.to_dict())
    assert again == plan
    x1, _ = plan.prepare(ct)
    x2, _ = again.prepare(ct)
    assert np.array_equal(x1, x2) and 0 <= x1.min() and x1.max() <= 1
    with pytest.raises(InputError, match="1.jpg: .*8-bit picture"):
        plan.prepare(picture, "1.jpg")
    with pytest.raises(InputError, match="mix 8-bit pictures with HU CT"):
        PreprocessPlan.fit(PreprocessConfig(), [("ct", ct), ("xray.jpg", picture)])
    assert PreprocessPlan.fit(PreprocessConfig(), [("x", picture)]).intensity == "8bit"
