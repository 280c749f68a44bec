"""``ModelCard.task`` and ``ModelCard.channels`` are the one answer to "classifier or segmenter?" and
"how many outputs?"; every form of a shipped model (checkpoint, ONNX metadata) gives the same answer,
and the web app asks the card, not the manifest."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lungseg.config.run import output_channels
from lungseg.errors import InputError
from lungseg.inference.core.predictor import read_card
from lungseg.io.shipped import resolve_model, shipped_models
from lungseg.model_card import ModelCard, ModelSpec, Provenance
from lungseg.preprocessing import PreprocessPlan


def _card(class_names=("lung",), config=None) -> ModelCard:
    return ModelCard(
        ModelSpec("unet", {}),
        PreprocessPlan("hu", -600.0, 1500.0, 256),
        tuple(class_names),
        provenance=Provenance(config=config),
    )


def test_task_and_channels_from_the_card_and_old_layouts():
    assert (_card().task, _card().channels) == ("segmentation", 1)  # no run config: written before classifiers
    assert _card(("ground-glass opacity", "consolidation")).channels == 3
    classifier = _card(("a", "b", "c"), {"model": {"name": "resnet18-classifier", "task": "classification"}})
    assert (classifier.task, classifier.channels) == ("classification", 3)
    assert ModelCard.from_stored(classifier.to_dict()).task == "classification"
    old = {key: value for key, value in _card().to_dict().items() if key not in ("class_names", "config")}
    assert ModelCard.from_stored(old, "old.pt").channels == 1
    with pytest.raises(InputError, match="odd.pt: stored config model.task 'detection'"):
        ModelCard.from_stored(
            replace(_card(), provenance=Provenance(config={"model": {"task": "detection"}})).to_dict(), "odd.pt"
        )


def test_output_channels_names_a_bad_argument():
    assert [output_channels("segmentation", k) for k in (1, 2, 3)] == [1, 3, 4]
    assert output_channels("classification", 4) == 4
    with pytest.raises(ValueError, match="task"):
        output_channels("detection", 2)
    with pytest.raises(ValueError, match="class_count"):
        output_channels("segmentation", 0)


def test_shipped_cards_agree_across_forms_and_the_web_asks_the_card():
    """The ONNX metadata and the checkpoint say the same; a classifier's ONNX graph passes its (N, K)
    output check; the web's ``is_classifier`` follows the card (``auto`` is a segmenter)."""
    from lungseg.models import load_checkpoint
    from lungseg.web.classification import is_classifier

    for name in shipped_models():
        checkpoint_card = load_checkpoint(resolve_model(name)).card
        onnx_card = read_card(name)
        assert (onnx_card.task, onnx_card.channels) == (checkpoint_card.task, checkpoint_card.channels)
        assert is_classifier(name) == (checkpoint_card.task == "classification")
    assert read_card("ct-cancer-type").task == "classification" and not is_classifier("auto")
