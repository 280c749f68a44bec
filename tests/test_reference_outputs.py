"""The shipped model's outputs on real data are those of commit 8972861 (before the hardening and
contracts refactors): POPI label map and lung volumes, and every kmader test-split mask, byte for byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import REPO, SHARED


def _digest_module():
    spec = importlib.util.spec_from_file_location("output_digest", REPO / "tools" / "output_digest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_outputs_match_the_reference():
    reference = json.loads((Path(__file__).parent / "reference_outputs.json").read_text())
    current = _digest_module().digest(SHARED)
    assert current["popi"] == reference["popi"]
    assert current["kmader_test"] == reference["kmader_test"] and len(current["kmader_test"]) == 20
