"""Cancer-type classification on the real chest-ct-cancer set: reading, duplicate groups, grouped splits,
training, calibration, Grad-CAM, the report, ONNX, and the input checks."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, shared

CANCER = "chest-ct-cancer"
CLASSES = ["adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma"]


@pytest.fixture(scope="session")
def cancer() -> Path:
    return shared(CANCER)


@pytest.fixture(scope="session")
def cancer_subset(tmp_path_factory, cancer) -> Path:
    """A small real class-folder set (train/ and valid/ kept): 12 files per class and folder, plus the
    copies that make it hard: the '17' normal slice and its copies, the byte-identical l4/sq2 pair filed
    under two classes, the train/valid pair 12/4 (one slice, two names) and the neighbour slices
    000055/000069."""
    root = tmp_path_factory.mktemp("cancer") / "set"
    chosen = set()
    for folder in ("train", "valid"):
        for label in CLASSES:
            files = sorted((cancer / folder / label).iterdir())
            chosen.update(files[:: max(1, len(files) // 12)][:12])
    extra = [
        "train/normal/17.png",
        "train/normal/17 - Copy.png",
        "train/normal/17 (2).png",
        "train/large_cell_carcinoma/l4.png",
        "train/squamous_cell_carcinoma/sq2.png",
        "train/normal/12 (2).png",
        "valid/normal/4 (2).png",
        "train/large_cell_carcinoma/000055.png",
        "train/large_cell_carcinoma/000069.png",
    ]
    chosen.update(cancer / name for name in extra)
    for path in chosen:
        target = root / path.relative_to(cancer)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return root


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lungseg-cache")


@pytest.fixture(scope="session")
def class_run(tmp_path_factory, cancer_subset, cache) -> Path:
    """A real two-epoch classifier run on the subset at 64 px."""
    import os

    from lungseg.config import classifier_defaults
    from lungseg.training.classify_run import train_classifier

    os.environ["LUNGSEG_CACHE"] = str(cache)
    config = classifier_defaults()
    config.data.data = str(cancer_subset)
    config.preprocess.image_size = 64
    config.train.epochs = 2
    config.train.batch_size = 8
    config.train.max_minutes = None
    out = tmp_path_factory.mktemp("classrun") / "run"
    train_classifier(config, out, log=lambda line: None)
    return out


def test_class_folders_read_mixed_modes_and_sizes(cancer):
    from PIL import Image

    from lungseg.data.class_folders import find_labelled_images, read_picture

    images = find_labelled_images(cancer)
    assert len(images) == 685
    assert sorted({i.label for i in images}) == CLASSES
    assert {i.folder for i in images} == {"train", "valid"}
    modes = {}
    for item in images[::7]:
        with Image.open(item.path) as handle:
            modes.setdefault((handle.format, handle.mode), item)
    assert {"RGBA", "RGB"} <= {mode for _, mode in modes}
    assert ("JPEG", "RGB") in modes  # including JPEG files named .png
    shapes = set()
    for item in modes.values():
        read = read_picture(item.path)
        assert read.gray.ndim == 2 and read.gray.dtype == np.uint8
        shapes.add(read.gray.shape)
    assert len(shapes) > 1


def test_coloured_marks_are_painted_out(cancer):
    from lungseg.data.class_folders import read_picture
    from lungseg.io.images2d import read_raster
    from lungseg.preprocessing import mark_mask

    path = cancer / "train" / "normal" / "5.png"  # a red banner and a purple line
    raster = read_raster(path)
    marks = mark_mask(raster)
    assert 0.001 < marks.mean() < 0.01
    read = read_picture(path)
    assert read.marked_fraction == pytest.approx(marks.mean())
    plain_gray = (raster[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114])).round()
    changed = np.abs(read.gray.astype(int) - plain_gray.astype(int)) > 2
    assert changed[marks].mean() > 0.5  # the marks are gone
    assert changed[~marks].mean() < 0.01  # the anatomy is untouched
    clean = read_picture(
        cancer / "train" / "adenocarcinoma" / sorted(p.name for p in (cancer / "train" / "adenocarcinoma").iterdir())[0]
    )
    assert clean.marked_fraction == 0.0


def test_slice_matching_finds_crops_and_tells_neighbours(cancer, tmp_path):
    """A real slice cropped (table cut off), rescaled and re-encoded as JPEG is the same slice; two
    neighbouring slices of one scan are not; a different patient's slice does not match at all."""
    from PIL import Image

    from lungseg.data.slice_match import match_slices
    from lungseg.io import read_image

    original = read_image(cancer / "train" / "large_cell_carcinoma" / "000055.png")
    height, width = original.shape
    crop = Image.fromarray(original[: int(height * 0.8), int(width * 0.05) :]).resize(
        (int(width * 0.95 * 0.7), int(height * 0.8 * 0.7))
    )
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=70)
    copy = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
    neighbour = read_image(cancer / "train" / "large_cell_carcinoma" / "000069.png")
    other = read_image(cancer / "train" / "normal" / "17.png")
    matches = {(m.first, m.second): m for m in match_slices([original, copy, neighbour, other])}
    # both are matched at one height, so the crop (80 % of the height) maps onto the original at scale 0.8
    assert matches[(0, 1)].same_slice and matches[(0, 1)].scale == pytest.approx(0.8, rel=0.05)
    assert (0, 2) in matches and not matches[(0, 2)].same_slice  # same scene, different slice
    assert not any(3 in pair for pair in matches)


def test_duplicate_groups_conflicts_and_grouped_split(cancer_subset, cache, monkeypatch):
    from lungseg.data import make_split
    from lungseg.data.class_folders import find_labelled_images, read_picture
    from lungseg.data.slice_groups import group_slices

    monkeypatch.setenv("LUNGSEG_CACHE", str(cache))
    images = find_labelled_images(cancer_subset)
    pictures = [read_picture(i.path).gray for i in images]
    groups = group_slices(images, pictures)
    group_of = groups.group_of
    assert (
        group_of["train/normal/17.png"] == group_of["train/normal/17 - Copy.png"] == group_of["train/normal/17 (2).png"]
    )
    assert group_of["train/normal/12 (2).png"] == group_of["valid/normal/4 (2).png"]  # renamed copy across folders
    assert ["train/large_cell_carcinoma/l4.png", "train/squamous_cell_carcinoma/sq2.png"] in groups.conflicts()
    assert "train/large_cell_carcinoma/l4.png" not in groups.usable()
    assert any({"train/normal/12 (2).png", "valid/normal/4 (2).png"} <= set(g) for g in groups.cross_folder_groups())
    counts = groups.class_counts()
    assert counts["normal"]["groups"] < counts["normal"]["files"]
    usable = groups.usable()
    links = [(link.first, link.second) for link in groups.links if link.first in usable and link.second in usable]
    strata = {name: groups.labels[name] for name in usable}
    for fold in range(3):
        split = make_split(usable, f"kfold:3:{fold}", 0, None, links, strata)
        side = {name: subset for subset in ("train", "val") for name in split.subset(subset)}
        for names in groups.members().values():
            assert len({side[n] for n in names if n in side}) <= 1, names  # no group across subsets
        assert {groups.labels[n] for n in split.val} == set(CLASSES)  # stratified: every class in every fold


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_training_run_writes_a_calibrated_checkpoint(class_run):
    from lungseg.models import load_checkpoint

    history = (class_run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss,val_loss,val_accuracy,val_balanced_accuracy,val_macro_f1")
    assert len(history) == 3
    card = load_checkpoint(class_run / "best.pt").card
    assert card.class_names == tuple(CLASSES)
    assert card.spec.name == "resnet18-classifier" and card.plan.intensity == "8bit"
    calibration = card.calibration
    assert calibration["temperature"] > 0
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-9  # temperature scaling lowers val NLL
    audit = json.loads((class_run / "audit.json").read_text())
    assert audit["label_conflicts"] and audit["classes"]["normal"]["groups"] < audit["classes"]["normal"]["files"]
    split = json.loads((class_run / "split.json").read_text())
    assert "train/large_cell_carcinoma/l4.png" not in split["train"] + split["val"] + split["test"]


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_resume_continues_a_classifier_run(class_run, tmp_path):
    from lungseg.training.classify_run import train_classifier

    copy = tmp_path / "run"
    shutil.copytree(class_run, copy)
    result = train_classifier(None, copy, resume=True, epochs=3, log=lambda line: None)
    assert result.epochs_run == 3
    assert len((copy / "history.csv").read_text().splitlines()) == 4


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_grad_cam_shape_and_range(class_run, cancer):
    from lungseg.inference.classify.classifier import ImageClassifier

    classifier = ImageClassifier.load(class_run / "best.pt", check_inputs=False)
    picture = classifier.read(
        cancer / "valid" / "adenocarcinoma" / sorted(p.name for p in (cancer / "valid" / "adenocarcinoma").iterdir())[0]
    ).gray
    for name in CLASSES[:2]:
        heat = classifier.heat_map(picture, name)
        assert heat.shape == picture.shape and heat.dtype == np.float32
        assert heat.min() >= 0.0 and heat.max() <= 1.0 + 1e-6
    assert classifier.heat_map(picture).max() == pytest.approx(1.0, abs=1e-3) or classifier.heat_map(picture).max() == 0


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_evaluation_report_and_figures(class_run, cancer_subset, tmp_path, cache, monkeypatch):
    from PIL import Image

    from lungseg.inference.classify.evaluation import evaluate_classifier
    from lungseg.reports.classification_report import write_classification_report

    monkeypatch.setenv("LUNGSEG_CACHE", str(cache))
    evaluation = evaluate_classifier(class_run / "best.pt", cancer_subset, "test", examples=2, log=lambda line: None)
    page = write_classification_report(evaluation, tmp_path / "report")
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["slices"] == len(evaluation.names) > 0
    assert set(metrics["per_class"]) == set(CLASSES)
    assert np.array(metrics["confusion"]).sum() == len(evaluation.names)
    for name in ("confusion.png", "reliability.png", "worst_1.png"):
        with Image.open(tmp_path / "report" / name) as image:
            assert image.size[0] > 100
    text = page.read_text()
    assert "Worst examples" in text and "screening" in text and "Temperature" in text


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_onnx_export_matches_pytorch(class_run, cancer):
    import onnxruntime

    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.inference.core.backends import onnx_bytes
    from lungseg.models import load_checkpoint

    checkpoint = load_checkpoint(class_run / "best.pt")
    session = onnxruntime.InferenceSession(onnx_bytes(checkpoint))
    classifier = ImageClassifier(checkpoint, check_inputs=False)
    pictures = [classifier.read(p).gray for p in sorted((cancer / "valid" / "normal").iterdir())[:3]]
    batch = np.stack([checkpoint.card.plan.prepare(p)[0] for p in pictures])[:, None]
    torch_logits = classifier.logits(pictures)
    onnx_logits = session.run(None, {"image": batch.astype(np.float32)})[0]
    assert onnx_logits.shape == (3, 4)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4, rtol=1e-4)


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_volume_refused_and_xray_flagged(class_run, cancer):
    from lungseg.errors import InputError
    from lungseg.inference.classify.classifier import ImageClassifier

    classifier = ImageClassifier.load(class_run / "best.pt")
    with pytest.raises(InputError, match="single axial slice"):
        classifier.apply(shared("ct-abdomen-totalseg", "nifti", "example_ct.nii.gz"))
    with pytest.raises(InputError, match="single axial slice"):
        classifier.apply(shared("ct-volume-popi", "dicom"))
    xray = classifier.apply(shared("xray-lung-montgomery", "images", "1.jpg"))
    assert xray.flagged and "radiograph" in xray.findings[-1].message
    em = classifier.apply(sorted(shared("em-membrane-isbi2012", "images").iterdir())[0])
    assert em.flagged
    ct = classifier.apply(cancer / "valid" / "normal" / "5.png")
    assert not ct.flagged
    assert any(f.code == "marks-painted" for f in ct.findings)
    assert sum(ct.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert ct.confidence == max(ct.probabilities.values())


@pytest.mark.slow
def test_cli_train_evaluate_predict(cancer_subset, tmp_path, cache):
    import os

    env_cache = os.environ.get("LUNGSEG_CACHE")
    os.environ["LUNGSEG_CACHE"] = str(cache)
    try:
        run = tmp_path / "run"
        done = run_cli(
            "classify",
            "train",
            "--data",
            cancer_subset,
            "--out",
            run,
            "--epochs",
            "2",
            "--image-size",
            "64",
            "--batch-size",
            "8",
            "--label-smoothing",
            "0.05",
            "--class-balance",
            "loss",
            "--freeze-encoder-epochs",
            "1",
        )
        assert done.returncode == 0, done.stderr
        assert "calibration on" in done.stderr and "label conflict" in done.stderr
        done = run_cli(
            "classify", "evaluate", "--model", run / "best.pt", "--data", cancer_subset, "--out", tmp_path / "eval"
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "eval" / "index.html").is_file()
        done = run_cli(
            "classify",
            "predict",
            cancer_subset / "valid" / "normal",
            "--model",
            run / "best.pt",
            "--out",
            tmp_path / "pred",
            "--cam",
        )
        assert done.returncode == 0, done.stderr
        predictions = json.loads((tmp_path / "pred" / "predictions.json").read_text())["predictions"]
        assert predictions and all(p["predicted"] in CLASSES for p in predictions)
        assert all((tmp_path / "pred" / p["heat_map"]).is_file() for p in predictions)
        bad = run_cli(
            "classify",
            "predict",
            shared("ct-abdomen-totalseg", "nifti", "example_ct.nii.gz"),
            "--model",
            run / "best.pt",
        )
        assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    finally:
        if env_cache is None:
            os.environ.pop("LUNGSEG_CACHE", None)
        else:
            os.environ["LUNGSEG_CACHE"] = env_cache


@pytest.mark.slow  # trains (or audits) on real pictures: the full suite, not the edit loop
def test_data_check_finds_crops_and_label_conflicts(cancer_subset, cache, monkeypatch):
    from lungseg.data.layout import audit_folder

    monkeypatch.setenv("LUNGSEG_CACHE", str(cache))
    report = audit_folder(cancer_subset)
    # the renamed copy across train/valid is a leak (found by the hash or by local features)
    assert any({Path(d.first).name, Path(d.second).name} == {"12 (2).png", "4 (2).png"} for d in report.leaks)
    same_slice = [d for d in report.duplicates if d.kind == "same slice"]  # what the hash alone missed
    assert same_slice and "the same slice" in same_slice[0].describe()
    assert any("label conflict" in note and "l4.png" in note for note in report.set_problems())
    assert any(line.startswith("distinct slices per class") for line in report.info)


def test_classification_loss_smoothing_and_weights():
    import torch

    from lungseg.losses import ClassificationLoss

    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -2.0], [1.0, 1.0, 1.0, 1.0]])
    target = torch.tensor([0, 2, 3])
    plain = ClassificationLoss()(logits, target)
    assert plain == pytest.approx(float(torch.nn.functional.cross_entropy(logits, target)))
    smooth = ClassificationLoss(label_smoothing=0.2)(logits, target)
    assert smooth == pytest.approx(float(torch.nn.functional.cross_entropy(logits, target, label_smoothing=0.2)))
    weights = [1.0, 1.0, 4.0, 0.5]
    weighted = ClassificationLoss(class_weights=weights)(logits, target)
    reference = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor(weights))
    assert weighted == pytest.approx(float(reference), rel=1e-5)
    per_sample = ClassificationLoss()(logits, target, torch.tensor([1.0, 0.0, 0.0]))
    assert per_sample == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:1], target[:1])))
    with pytest.raises(ValueError, match="label_smoothing"):
        ClassificationLoss(label_smoothing=1.0)


def test_shipped_recipe_is_the_cross_validated_candidate():
    """tools/release_weights.py trains ct-cancer-type from recipes/ct-cancer-type.yaml; the manifest's
    cross-validated figures are those of benchmarks/classifier_cv.py's candidate it names, so the two
    configs must be the same run settings."""
    from conftest import load_script

    module = load_script("benchmarks/classifier_cv.py")
    tool = load_script("tools/release_weights.py")
    candidate = tool.RELEASES["ct-cancer-type"].classifier_cv
    recipe, chosen = module.config_for("recipe", 0, 4, None), module.config_for(candidate, 0, 4, None)
    assert recipe.to_dict() == chosen.to_dict()


def test_pretrained_weights_from_a_local_file(tmp_path):
    """``pretrained=PATH`` loads a local timm state dict (what timm's download would give), all but the
    head; 3-channel first-convolution weights are summed for gray input; a file that does not fit is
    refused naming it."""
    import timm
    import torch

    from lungseg.errors import InputError
    from lungseg.models import build_model

    torch.manual_seed(1)
    source = timm.create_model("resnet18", pretrained=False, num_classes=1000, in_chans=3)
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(source.state_dict(), path)
    model = build_model("resnet18-classifier", out_channels=4, pretrained=str(path))
    own = model.net.state_dict()
    assert torch.allclose(own["conv1.weight"], source.state_dict()["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(own["layer4.1.bn2.weight"], source.state_dict()["layer4.1.bn2.weight"])
    assert own["fc.weight"].shape == (4, 512)
    wrong = tmp_path / "effnet.pth"
    torch.save(timm.create_model("efficientnet_b0", pretrained=False).state_dict(), wrong)
    with pytest.raises(InputError, match="does not fit"):
        build_model("resnet18-classifier", pretrained=str(wrong))
    with pytest.raises(ValueError, match="unknown model 'resnet19-classifier'.*resnet18-classifier"):
        build_model("resnet19-classifier")


def test_evaluate_reads_the_sources_own_class_folder_names(cancer, tmp_path):
    """A held-out set laid out as the Kaggle source names its folders is scored with the model's classes;
    a folder that fits no class is refused naming it."""
    from lungseg.errors import InputError
    from lungseg.inference.classify.evaluation import evaluate_classifier

    original = {
        "adenocarcinoma": "adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib",
        "large_cell_carcinoma": "large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa",
        "squamous_cell_carcinoma": "squamous.cell.carcinoma_left.hilum_T1_N2_M0_IIIa",
        "normal": "normal",
    }
    for ours, theirs in original.items():
        (tmp_path / "test" / theirs).mkdir(parents=True)
        for path in sorted((cancer / "valid" / ours).iterdir())[:2]:
            shutil.copy(path, tmp_path / "test" / theirs / path.name)
    evaluation = evaluate_classifier("ct-cancer-type", tmp_path, examples=0, log=lambda line: None)  # all: held out
    assert set(evaluation.scores.per_class) == set(CLASSES) and len(evaluation.names) >= 4
    (tmp_path / "test" / "mesothelioma").mkdir()
    shutil.copy(next((cancer / "valid" / "normal").iterdir()), tmp_path / "test" / "mesothelioma" / "x.png")
    with pytest.raises(InputError, match="mesothelioma"):
        evaluate_classifier("ct-cancer-type", tmp_path, "all", examples=0, log=lambda line: None)
