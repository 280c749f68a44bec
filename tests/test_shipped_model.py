"""The shipped ct-lung model: manifest, checksums, offline download path, ONNX parity and accuracy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli, shared
from lungseg.errors import InputError
from lungseg.inference.core.backends import OnnxBackend, TorchBackend
from lungseg.io.shipped import MANIFEST, WEIGHTS_DIR, resolve_model, sha256_of, shipped_models
from lungseg.models import load_checkpoint


def test_manifest_records_provenance_and_checksums(tmp_path, kmader):
    entry = shipped_models()["ct-lung"]
    assert entry["command"].startswith("lungseg train --data ") and "ct-lung-kmader" in entry["command"]
    # the recorded test metrics are re-measured: the shipped checkpoint on its own stored test split
    from conftest import run_cli

    result = run_cli(
        "evaluate",
        "--model",
        "ct-lung",
        "--backend",
        "torch",
        "--data",
        kmader,
        "--split",
        "test",
        "--out",
        tmp_path / "eval",
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert measured["n"] == entry["test_n"]
    for name in ("dice", "iou", "precision", "recall"):
        assert measured[name]["mean"] == pytest.approx(entry["test_metrics"][name]["mean"], abs=1e-4), name
    assert measured["dice"]["mean"] >= 0.98
    for kind in ("checkpoint", "onnx"):
        file = entry["files"][kind]
        assert sha256_of(WEIGHTS_DIR / file["name"]) == file["sha256"]
        assert resolve_model("ct-lung", kind) == WEIGHTS_DIR / file["name"]


@pytest.fixture()
def private_manifest(tmp_path, monkeypatch):
    """A copy of the shipped manifest whose files live elsewhere (a cache or a download url)."""
    package = tmp_path / "package"
    package.mkdir()
    manifest = json.loads(MANIFEST.read_text())
    (package / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("LUNGSEG_CACHE", str(tmp_path / "cache"))
    return package / "manifest.json", manifest


def test_tampered_weights_are_refused(private_manifest):
    path, manifest = private_manifest
    name = manifest["models"]["ct-lung"]["files"]["checkpoint"]["name"]
    data = bytearray((WEIGHTS_DIR / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path.parent / name).write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256 mismatch"):
        resolve_model("ct-lung", manifest=path)


def test_download_from_url_verifies_and_caches(private_manifest, tmp_path):
    path, manifest = private_manifest
    entry = manifest["models"]["ct-lung"]["files"]["checkpoint"]
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(WEIGHTS_DIR / entry["name"], mirror / entry["name"])
    with pytest.raises(InputError, match="no download url"):
        resolve_model("ct-lung", manifest=path)
    entry["url"] = (mirror / entry["name"]).as_uri()
    path.write_text(json.dumps(manifest))
    fetched = resolve_model("ct-lung", manifest=path)
    assert fetched == tmp_path / "cache" / entry["name"] and sha256_of(fetched) == entry["sha256"]
    (mirror / entry["name"]).write_bytes(b"truncated")
    fetched.unlink()
    with pytest.raises(InputError, match="sha256 mismatch"):
        resolve_model("ct-lung", manifest=path)
    assert not fetched.exists()  # a bad download leaves nothing behind


def test_unknown_model_name_lists_the_shipped_ones():
    from lungseg.io.shipped import shipped_models

    names = ", ".join(sorted(shipped_models()))
    assert "ct-lung" in names and "covid-infection" in names
    with pytest.raises(InputError, match=rf"not a shipped model name \(shipped: {names}\)"):
        resolve_model("ct-lungs")


def test_every_shipped_model_loads_offline_checksum_verified_with_its_onnx_twin():
    """Each manifest entry: both files verify, the card's class names and plan are the same in the .pt
    and in the ONNX metadata, and the lesion models carry their cross-validation and command."""
    from lungseg.inference import Predictor
    from lungseg.inference.core.predictor import read_card
    from lungseg.io.shipped import shipped_models

    for name, entry in shipped_models().items():
        task = read_card(name).task  # the card decides; the manifest's "task" is information that must agree
        assert entry.get("task", "segmentation") == task, name
        if task == "classification":
            _check_shipped_classifier(name, entry)
            continue
        torch_model = Predictor.load(name, backend="torch")
        onnx_model = Predictor.load(name, backend="onnx")
        assert torch_model.card.class_names == onnx_model.card.class_names
        assert torch_model.card.plan == onnx_model.card.plan
        assert entry["command"].startswith(("lungseg train", "python tools/gray_split_types.py"))
        assert "cv_metrics" in entry or "test_metrics" in entry
        if torch_model.card.plan.intensity == "xray":  # 138 films: 5-fold cross-validation from its benchmark
            assert entry["cv_metrics"]["dice"]["mean"] > 0.9 and "xray_cv.py" in entry["cv_command"]
        if torch_model.card.class_names != ("lung",):
            assert torch_model.card.plan.export_center is not None and "cv_command" in entry


def _check_shipped_classifier(name: str, entry: dict) -> None:
    """A shipped classifier: checkpoint and ONNX carry the same card, the ONNX graph gives the checkpoint's
    logits, the temperature is stored, and segmentation entry points refuse it with the reason."""
    import onnx
    import onnxruntime

    from lungseg.errors import InputError
    from lungseg.inference import Predictor
    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.inference.core.backends import METADATA_KEY
    from lungseg.preprocessing import PreprocessPlan

    classifier = ImageClassifier.load(name, check_inputs=False)
    onnx_path = resolve_model(name, "onnx")
    stored = json.loads({p.key: p.value for p in onnx.load(onnx_path).metadata_props}[METADATA_KEY])
    assert (
        stored["class_names"] == list(classifier.class_names)
        and PreprocessPlan.from_dict(stored["preprocessing"]) == classifier.card.plan
    )
    assert classifier.card.calibration["temperature"] > 0 and entry["command"].startswith("lungseg classify train")
    assert {"accuracy", "balanced_accuracy", "macro_f1"} <= set(entry["cv_metrics"])
    picture = classifier.read(sorted(shared("chest-ct-cancer", "valid", "normal").iterdir())[0]).gray
    prepared = classifier.card.plan.prepare(classifier.field(picture)[0])[0][None, None]
    session = onnxruntime.InferenceSession(str(onnx_path))
    np.testing.assert_allclose(session.run(None, {"image": prepared})[0], classifier.logits([picture]), atol=1e-4)
    with pytest.raises(InputError, match="classifier"):
        Predictor.load(name, backend="torch")


def test_onnx_export_matches_pytorch(tmp_path, kmader):
    from lungseg.io import read_image

    result = run_cli("export", tmp_path / "model.onnx", "--model", "ct-lung")
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(resolve_model("ct-lung"))
    plan = checkpoint.card.plan
    images = [read_image(p) for p in sorted((kmader / "images").iterdir())[:3]]
    batch = np.stack([plan.prepare(image)[0] for image in images])[:, None]
    torch_logits = TorchBackend(checkpoint)(batch)
    onnx_logits = OnnxBackend(tmp_path / "model.onnx")(batch)
    assert np.abs(torch_logits - onnx_logits).max() < 1e-3
    assert np.mean((torch_logits > 0) != (onnx_logits > 0)) < 1e-4
    assert OnnxBackend(tmp_path / "model.onnx").card() == checkpoint.card  # every field, split included


def test_onnx_inference_runs_without_torch(tmp_path, kmader):
    """The shipped model and an exported .onnx file both run from ONNX metadata alone: no torch import."""
    import subprocess
    import sys

    image = sorted((kmader / "images").iterdir())[0]
    exported = tmp_path / "model.onnx"
    shutil.copy(WEIGHTS_DIR / "ct-lung.onnx", exported)
    code = (
        "import sys\n"
        "from lungseg.inference import Predictor\n"
        f"masks = [Predictor.load(m).apply({str(image)!r}) for m in ('ct-lung', {str(exported)!r})]\n"
        "assert (masks[0] == masks[1]).all() and 0.05 < masks[0].mean() < 0.6, masks[0].mean()\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_onnx_file_without_lungseg_metadata_is_refused(tmp_path):
    import onnx

    graph = onnx.load(WEIGHTS_DIR / "ct-lung.onnx")
    del graph.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(graph, foreign)
    from lungseg.inference import Predictor

    with pytest.raises(InputError, match="no 'lungseg.checkpoint' metadata"):
        Predictor.load(foreign)
    with pytest.raises(ValueError, match="cannot run an .onnx model file"):
        Predictor.load(foreign, backend="torch")


def test_shipped_model_scores_on_the_kmader_test_split(tmp_path, kmader):
    result = run_cli("evaluate", "--model", "ct-lung", "--data", kmader, "--split", "test", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == 20 and metrics["dice"]["mean"] >= 0.98
