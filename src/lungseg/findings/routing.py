"""The catalogue's findings about the model chosen for an input (``--model auto``), options a segmenter
cannot honour, and inputs unlike a model's training images (the in-domain check)."""

from __future__ import annotations

from lungseg.findings.kinds import Code, FindingKind, Level

R, W = Level.REFUSE, Level.WARN

# The model chosen for an input, and options it cannot honour
MODEL_CHOSEN = FindingKind(Code.MODEL_CHOSEN, Level.INFO, "model {model} chosen for this input: {why}")
ROUTING_UNSURE = FindingKind(
    Code.ROUTING_UNSURE,
    W,
    "both lung models (or neither) recognise this 8-bit picture, "
    "so {model} was chosen by a rule that can be wrong: for a chest "
    "X-ray choose the chest X-ray model, for a CT slice export the CT "
    "model",
)
OPTION_NOT_APPLIED = FindingKind(Code.OPTION_NOT_APPLIED, W, "option(s) {options} not applied: {why}")

# The in-domain check of a model (``preprocessing.domain``, ``inference.core.domain``)
UNLIKE_TRAINING = FindingKind(
    Code.OUT_OF_DOMAIN,
    W,
    "this input is unlike the images {model} was trained on (distance {distance:.0f}, in-domain up to "
    "{threshold:.0f}{where}): the result may be wrong",
)
FOREIGN_INPUT = FindingKind(
    Code.OUT_OF_DOMAIN,
    R,
    "this input is far from every image {model} was trained on (distance {distance:.0f}, in-domain up to "
    "{threshold:.0f}{where}): it does not look like {kind}",
)
