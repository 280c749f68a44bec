"""The shipped model's outputs on real data are those of commit 8972861 (before the hardening and
contracts refactors): POPI label map and lung volumes, and every kmader test-split mask, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SHARED, load_script


@pytest.mark.slow
def test_outputs_match_the_reference():
    reference = json.loads((Path(__file__).parent / "reference_outputs.json").read_text())
    current = load_script("tools/output_digest.py").digest(SHARED)
    assert current["popi"] == reference["popi"]
    assert current["kmader_test"] == reference["kmader_test"] and len(current["kmader_test"]) == 20
