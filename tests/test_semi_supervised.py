"""Semi-supervised COVID-19 infection (issue 26): the pseudo-labelled slices grouped by volume, healthy
negatives with empty masks, pseudo-labels never scored, a short pre-train then fine-tune run, and the
share of lung called infected measured on a real HU slice."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO, run_cli, shared

sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "benchmarks"))
PSEUDO = shared("covid-infection-pseudo")


def test_pseudo_slices_group_into_their_20_volumes_and_the_recipe_uses_that_pattern():
    from covid_pretrain_set import GROUPS

    recipe = yaml.safe_load((REPO / "recipes" / "covid-infection-pretrain.yaml").read_text())
    assert recipe["data"]["group_pattern"] == GROUPS
    names = [path.stem for path in (PSEUDO / "images").glob("*.jpg")]
    assert len(names) == 1600
    volumes = {re.match(GROUPS, name).group(1) for name in names}
    assert len(volumes) == 20 and "Data-1_coronacases_org_004" in volumes
    assert re.match(GROUPS, "kmader-ID_0266_Z_0202_n1").group(1) == "kmader-ID_0266"


def test_volume_grouped_split_keeps_every_volume_on_one_side(tmp_path):
    from covid_pretrain_set import GROUPS, link_pseudo
    from lungseg.data.splits import make_split

    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    assert link_pseudo(tmp_path) == 1600
    names = sorted(path.stem for path in (tmp_path / "images").iterdir())
    split = make_split(names, "85/15/0", seed=0, group_pattern=GROUPS)
    volume = lambda name: re.match(GROUPS, name).group(1)  # noqa: E731
    assert not {volume(n) for n in split.train} & {volume(n) for n in split.val}
    assert len(split.val) > 100


def test_negatives_are_lung_crops_of_healthy_training_slices_with_empty_masks(tmp_path):
    from covid_pretrain_set import negatives
    from lungseg.io import read_image
    from lungseg.io.masks import read_mask_array
    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint

    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    made = negatives(tmp_path, copies=1)
    split = load_checkpoint(resolve_model("ct-lung")).card.split
    stems = {path.stem.removeprefix("kmader-").removesuffix("_n0") for path in (tmp_path / "images").iterdir()}
    assert made == len(stems) > 150
    assert not stems & set(split.test), "the kmader test split is where the over-call is measured"
    for path in sorted((tmp_path / "masks").iterdir())[:20]:
        assert not read_mask_array(path).any()
        picture = np.asarray(read_image(tmp_path / "images" / f"{path.stem}.jpg"))
        assert picture.dtype == np.uint8 and max(picture.shape) < 512  # cropped to the lungs


def test_pseudo_labels_are_never_scored(tmp_path):
    done = run_cli(
        "evaluate",
        "--model",
        "covid-infection",
        "--images",
        PSEUDO / "images",
        "--masks",
        PSEUDO / "masks",
        "--out",
        tmp_path / "eval",
    )
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert "PSEUDO-LABELS" in line and "never score on them" in line and "Traceback" not in done.stderr


@pytest.mark.slow
def test_short_pretrain_then_fine_tune_on_labelled_slices(tmp_path):
    """Stage 1 on 3 pseudo volumes' slices plus negatives (samples_per_epoch), stage 2 started from it on
    labelled slices: the fine-tuned checkpoint holds every tensor of stage 1's model."""
    from covid_pretrain_set import GROUPS

    data = tmp_path / "pretrain"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    chosen = sorted((PSEUDO / "images").glob("Data-1_coronacases_org_00[123]_*.jpg"))[::8]
    for image in chosen:
        (data / "images" / image.name).symlink_to(image.resolve())
        (data / "masks" / f"{image.stem}.png").symlink_to((PSEUDO / "masks" / f"{image.stem}.png").resolve())
    common = ["--image-size", "64", "--epochs", "1", "--batch-size", "4"]
    stage1 = run_cli(
        "train",
        "--config",
        REPO / "recipes" / "covid-infection-pretrain.yaml",
        "--images",
        data / "images",
        "--masks",
        data / "masks",
        "--split",
        "60/40/0",
        "--set",
        "train.samples_per_epoch=8",
        "--set",
        f"data.group_pattern={GROUPS}",
        "--out",
        tmp_path / "stage1",
        *common,
    )
    assert stage1.returncode == 0, stage1.stderr
    labelled = shared("covid-infection", "train")
    stage2 = run_cli(
        "train",
        "--config",
        REPO / "recipes" / "covid-infection.yaml",
        "--images",
        labelled / "images",
        "--masks",
        labelled / "masks_infection",
        "--split",
        "kfold:5:0",
        "--set",
        f"train.init_from={tmp_path / 'stage1' / 'best.pt'}",
        "--out",
        tmp_path / "stage2",
        *common,
    )
    assert stage2.returncode == 0, stage2.stderr
    assert re.search(r"weights: (\d+) of \1 tensors from", stage2.stdout + stage2.stderr)
    assert (tmp_path / "stage2" / "best.pt").is_file()


def test_share_of_lung_called_infected_on_a_real_hu_slice():
    """benchmarks/infection_share.share: lesion pixels over lung plus lesion pixels, airways apart; equal
    to the lesion burden's per-lung percents weighted by lung size, on a kmader HU slice."""
    from infection_share import share
    from lungseg.inference import Segmenter

    result = Segmenter.from_pretrained("ct-lung", lesions=["covid-infection"]).segment(
        shared("ct-lung-kmader", "images", "ID_0022_Z_0131.tif")
    )
    labels = np.asarray(result.canonical_labels)
    lesion_pixels = sum(size.voxels for _, size, _ in result.lesions.classes)
    lung_pixels = int(np.isin(labels, [1, 2]).sum())
    assert share(result) == pytest.approx(100 * lesion_pixels / (lung_pixels + lesion_pixels))
    assert 0 <= share(result) < 100
