"""Broken model files, made from the shipped ct-lung checkpoint and ONNX export: every one is refused
with a line that names the file and what is wrong, before any output is written."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
import torch

from conftest import shared
from damage import error_line, run
from lungseg.io.shipped import WEIGHTS_DIR

pytestmark = pytest.mark.slow  # one CLI subprocess per case; `make test-fast` skips them


@pytest.fixture(scope="module")
def shipped() -> dict:
    return torch.load(WEIGHTS_DIR / "ct-lung.pt", map_location="cpu", weights_only=True)


def _predict(tmp_path, model):
    image = shared("ct-lung-kmader", "images", "ID_0000_Z_0142.tif")
    out = tmp_path / "out" / "mask.png"
    result = run(
        "predict",
        image,
        out,
        "--model",
        model,
        "--backend",
        "torch" if str(model).endswith(".pt") else "auto",
        guard=(model,) if (tmp_path / "model").exists() else (),
    )
    assert not out.exists()
    return result


def _saved(tmp_path, checkpoint) -> object:
    (tmp_path / "model").mkdir(exist_ok=True)
    path = tmp_path / "model" / "broken.pt"
    torch.save(checkpoint, path)
    return path


def _without(mapping: dict, *keys) -> dict:
    return {key: value for key, value in mapping.items() if key not in keys}


CHECKPOINT_DAMAGE = {
    "missing tensors": (
        lambda c: {**c, "state_dict": _without(c["state_dict"], *list(c["state_dict"])[:5])},
        "missing tensors",
    ),
    "extra tensors": (
        lambda c: {**c, "state_dict": {**c["state_dict"], "head.extra": torch.zeros(3)}},
        "unexpected tensors head.extra",
    ),
    "wrong shape": (
        lambda c: {
            **c,
            "state_dict": {k: (v[:1] if i == 0 else v) for i, (k, v) in enumerate(c["state_dict"].items())},
        },
        "wrong shape",
    ),
    "no weights": (lambda c: {**c, "state_dict": {}}, "no weight tensors"),
    "plan missing a key": (
        lambda c: {**c, "preprocessing": _without(c["preprocessing"], "image_size")},
        "plan is incomplete: missing image_size",
    ),
    "plan with a bad value": (
        lambda c: {**c, "preprocessing": {**c["preprocessing"], "intensity": "rgb"}},
        "plan is invalid",
    ),
    "no plan": (lambda c: _without(c, "preprocessing"), "missing preprocessing"),
    "unknown model": (lambda c: {**c, "model": {"name": "vnet", "kwargs": {}}}, "unknown model 'vnet'"),
    "bad model kwargs": (
        lambda c: {**c, "model": {**c["model"], "kwargs": {**c["model"]["kwargs"], "wings": 2}}},
        "no argument(s) ['wings']",
    ),
    "model spec not a dict": (lambda c: {**c, "model": "unet"}, "model spec"),
    "future format": (lambda c: {**c, "format": 99}, "format 99"),
    "a list": (lambda c: [1, 2, 3], "not a dict"),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint(tmp_path, shipped, damage):
    change, fragment = CHECKPOINT_DAMAGE[damage]
    path = _saved(tmp_path, change(shipped))
    error_line(_predict(tmp_path, path), 2, "broken.pt", fragment)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n", "truncated"])
def test_unreadable_checkpoint_file(tmp_path, content):
    (tmp_path / "model").mkdir()
    path = tmp_path / "model" / "broken.pt"
    data = (WEIGHTS_DIR / "ct-lung.pt").read_bytes()[:100_000] if content == "truncated" else content
    path.write_bytes(data)
    error_line(_predict(tmp_path, path), 2, "broken.pt", "not a readable lungseg checkpoint")


def test_damaged_checkpoint_is_refused_by_export_and_evaluate(tmp_path, shipped):
    path = _saved(tmp_path, CHECKPOINT_DAMAGE["missing tensors"][0](shipped))
    error_line(run("export", tmp_path / "m.onnx", "--model", path), 2, "broken.pt", "missing tensors")
    assert not (tmp_path / "m.onnx").exists()
    kmader = shared("ct-lung-kmader")
    result = run(
        "evaluate",
        "--model",
        path,
        "--backend",
        "torch",
        "--images",
        kmader / "images",
        "--masks",
        kmader / "masks",
        "--out",
        tmp_path / "eval",
    )
    error_line(result, 2, "broken.pt", "missing tensors")
    assert not (tmp_path / "eval").exists()


def _onnx(tmp_path, edit) -> object:
    model = onnx.load(WEIGHTS_DIR / "ct-lung.onnx")
    edit(model)
    (tmp_path / "model").mkdir(exist_ok=True)
    path = tmp_path / "model" / "broken.onnx"
    onnx.save(model, path)
    return path


def _set_metadata(model, value: str | None) -> None:
    props = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    if value is not None:
        props["lungseg.checkpoint"] = value
    else:
        props.pop("lungseg.checkpoint")
    onnx.helper.set_model_props(model, props)


def _fixed_input(size: int):
    def edit(model):
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = size, size

    return edit


def _metadata(change):
    def edit(model):
        value = json.loads(next(p.value for p in model.metadata_props if p.key == "lungseg.checkpoint"))
        _set_metadata(model, json.dumps(change(value)))

    return edit


ONNX_DAMAGE = {
    "no metadata": (lambda m: _set_metadata(m, None), "no 'lungseg.checkpoint' metadata"),
    "metadata not JSON": (lambda m: _set_metadata(m, "{not json"), "not valid JSON"),
    "metadata without plan": (
        _metadata(lambda v: _without(v, "preprocessing")),
        "missing preprocessing (preprocessing plan)",
    ),
    "plan missing a key": (
        _metadata(lambda v: {**v, "preprocessing": _without(v["preprocessing"], "window_width")}),
        "missing window_width",
    ),
    "input of another size": (_fixed_input(128), "needs (N, 1, 256, 256)"),
}


@pytest.mark.parametrize("damage", list(ONNX_DAMAGE))
def test_damaged_onnx(tmp_path, damage):
    edit, fragment = ONNX_DAMAGE[damage]
    error_line(_predict(tmp_path, _onnx(tmp_path, edit)), 2, "broken.onnx", fragment)


def test_truncated_onnx(tmp_path):
    (tmp_path / "model").mkdir()
    path = tmp_path / "model" / "broken.onnx"
    path.write_bytes((WEIGHTS_DIR / "ct-lung.onnx").read_bytes()[:50_000])
    error_line(_predict(tmp_path, path), 2, "broken.onnx", "cannot load ONNX model")


@pytest.mark.parametrize(
    "listing, fragment",
    [
        ("", "not valid JSON"),
        ("{}", "lists no member checkpoints"),
        ('{"members": []}', "lists no member checkpoints"),
        ('{"members": [42]}', "lists no member checkpoints"),
        ('{"members": ["fold-0/best.pt"]}', "checkpoint not found"),
    ],
)
def test_damaged_ensemble_listing(tmp_path, listing, fragment):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "ensemble.json").write_text(listing)
    result = _predict(tmp_path, folder)
    error_line(result, 2, "ensemble.json" if "JSON" in fragment or "member" in fragment else "best.pt", fragment)


def test_model_folder_without_listing(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(WEIGHTS_DIR / "ct-lung.pt", folder / "best.pt")
    error_line(_predict(tmp_path, folder), 2, "model", "without ensemble.json")
