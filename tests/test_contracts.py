"""The typed contracts between layers: model cards, findings, label classes and measurements.

Each test checks the contract on real files (the shipped model, real kmader slices and masks) and that
the thing it promises, one place per addition, holds for the source tree.
"""

from __future__ import annotations

import ast
import string
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lungseg import findings
from lungseg.errors import InputError
from lungseg.findings import Code, Finding, FindingKind
from lungseg.inference.core.measure import measure
from lungseg.io import read_image, read_mask
from lungseg.io.shipped import resolve_model
from lungseg.labels import SPLIT_LUNGS, LabelClass, label_class, legend
from lungseg.model_card import ModelCard
from lungseg.models import Checkpoint, load_checkpoint
from lungseg.preprocessing.display import label_overlay, to_display

SRC = Path(__file__).resolve().parents[1] / "src" / "lungseg"


def test_shipped_checkpoint_card_round_trips_and_old_layouts_still_read(tmp_path):
    """The shipped file predates ``class_names``: it reads with the default; the card's dict reads back
    equal; a newer format and a damaged split are refused naming the file."""
    shipped = load_checkpoint(resolve_model("ct-lung"))
    card = shipped.card
    assert card.class_names == ("lung",) and card.spec.name == "unet" and card.plan.intensity == "hu"
    assert card.split is not None and len(card.split.test) > 0 and card.provenance.epoch == card.metrics["epoch"]
    assert ModelCard.from_stored(card.to_dict(), "x") == card
    stored = torch.load(resolve_model("ct-lung"), map_location="cpu", weights_only=True)
    assert "class_names" not in stored  # the released file is unchanged (its sha256 is in the manifest)
    path = tmp_path / "resaved.pt"
    torch.save(Checkpoint(card, shipped.state_dict).to_dict(), path)
    assert load_checkpoint(path).card == card
    with pytest.raises(InputError, match="newer.pt: checkpoint format 9 is not one"):
        torch.save({**stored, "format": 9}, tmp_path / "newer.pt")
        load_checkpoint(tmp_path / "newer.pt")
    with pytest.raises(InputError, match="split.pt: stored split is malformed"):
        torch.save({**stored, "split": {"trian": []}}, tmp_path / "split.pt")
        load_checkpoint(tmp_path / "split.pt")


def test_ensemble_card_has_no_split_and_lists_members():
    card = load_checkpoint(resolve_model("ct-lung")).card.as_ensemble(["fold-0/best.pt", "fold-1/best.pt"])
    assert card.split is None and card.provenance.ensemble == ("fold-0/best.pt", "fold-1/best.pt")
    assert card.to_dict()["ensemble"] == ["fold-0/best.pt", "fold-1/best.pt"]
    assert ModelCard.from_stored(card.to_dict()) == card
    with pytest.raises(ValueError, match="class_names"):
        replace(card, class_names=())


def _kinds() -> dict[str, FindingKind]:
    return {name: value for name, value in vars(findings).items() if isinstance(value, FindingKind)}


def test_every_code_has_a_message_and_every_message_formats():
    kinds = _kinds()
    assert {kind.code for kind in kinds.values()} == set(Code)
    for name, kind in kinds.items():
        fields = {field for _, field, _, _ in string.Formatter().parse(kind.template) if field}
        made = kind(**{field: 1.5 for field in fields})
        assert made.code == kind.code and made.level == kind.level and "{" not in made.message, name
        assert made.to_dict() == {"level": str(kind.level), "code": str(kind.code), "message": made.message}
    with pytest.raises(ValueError):
        Finding("fatal", Code.NO_LUNGS, "x")
    with pytest.raises(ValueError):
        Finding("warn", "no-such-code", "x")


def _calls(name: str) -> list[str]:
    """Modules of src/lungseg that call ``name(...)`` directly."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
                found.append(str(path.relative_to(SRC)))
    return found


def test_findings_and_label_classes_are_made_in_one_place_each():
    assert set(_calls("Finding")) == {"findings/kinds.py"}, "findings come from the catalogue in lungseg/findings"
    assert {str(Path(path).parent) for path in _calls("FindingKind")} == {"findings"}
    assert set(_calls("LabelClass")) == {"labels.py"}


def test_a_new_label_class_flows_through_measurements_legend_and_overlay(kmader):
    """A third structure defined only as a ``LabelClass`` (no other edit): measured under its own key,
    named in the legend and drawn in its colour, on a real kmader slice and mask."""
    name = sorted(p.name for p in (kmader / "images").iterdir())[5]
    image, mask = read_image(kmader / "images" / name), read_mask(kmader / "masks" / name)
    labels = np.where(mask, 1, 0).astype(np.uint8)
    labels[:, labels.shape[1] // 2 :][mask[:, labels.shape[1] // 2 :]] = 2
    trachea = LabelClass(3, "airway wall", (0, 255, 0), ("1234", "Test"))
    labels[:20, :20] = 3
    classes = (*SPLIT_LUNGS, trachea)
    result = measure(labels[None], classes, image[None].astype(np.float32), (0.7, 0.7), is_volume=False)
    stored = result.to_dict()
    assert list(stored) == ["right_lung", "left_lung", "airway_wall", "total"]
    assert stored["airway_wall"]["voxels"] == 400 and stored["airway_wall"]["area_cm2"] == round(400 * 0.49 / 100, 2)
    assert stored["total"]["voxels"] == stored["right_lung"]["voxels"] + stored["left_lung"]["voxels"] + 400
    assert legend(classes)["3"] == "airway wall" and label_class(3, classes) is trachea
    overlay = label_overlay(to_display(image), labels, classes=classes)
    assert tuple(overlay[0, 0]) == (0, 255, 0)  # the outline of the new class, in its colour
    assert label_class(9).name == "label 9"  # a value outside the set still draws, generically named
