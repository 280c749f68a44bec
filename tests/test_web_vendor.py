"""The vendored NiiVue bundle is the one VENDORED.md describes, with its licence,
and the viewer partial renders the element contract viewer.js reads."""

import hashlib
import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[1] / "src" / "lungseg" / "web"
VENDOR = WEB / "static" / "vendor" / "niivue"


def test_vendored_sha256_matches_bundle():
    notes = (VENDOR / "VENDORED.md").read_text(encoding="utf-8")
    row = next(line for line in notes.splitlines() if line.startswith("| sha256"))
    recorded = re.search(r"\b[0-9a-f]{64}\b", row).group(0)
    actual = hashlib.sha256((VENDOR / "niivue.umd.js").read_bytes()).hexdigest()
    assert actual == recorded


def test_vendored_notes_name_package_version_and_source():
    notes = (VENDOR / "VENDORED.md").read_text(encoding="utf-8")
    version = re.search(r"\| version \| `([0-9]+\.[0-9]+\.[0-9]+)`", notes).group(1)
    assert "`@niivue/niivue`" in notes
    assert f"https://registry.npmjs.org/@niivue/niivue/-/niivue-{version}.tgz" in notes
    assert f"npm pack @niivue/niivue@{version}" in notes


def test_licence_present():
    licence = (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 2-Clause License" in licence
    assert "Copyright (c) 2021, Niivue" in licence
    assert "Redistributions in binary form must reproduce" in licence


def test_bundle_is_the_umd_build():
    head = (VENDOR / "niivue.umd.js").read_bytes()[:400].decode("utf-8", "replace")
    assert "typeof define" in head and "niivue" in head  # UMD wrapper, global `niivue`


def test_viewer_partial_renders_the_element_contract():
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB / "templates"), autoescape=True)
    legend = [
        {"value": 1, "name": "right lung", "colour": [255, 64, 64]},
        {"value": 2, "name": "left 'lung' <&>", "colour": [64, 160, 255]},
    ]
    html = env.get_template("_viewer.html").render(
        ct_url="/jobs/a/ct.nii.gz",
        labels_url="/jobs/a/labels.nii.gz",
        slice_url="/jobs/a/slice.png",
        slices=71,
        legend=legend,
        mode="volume",
    )
    attr = re.search(r"data-legend='([^']*)'", html).group(1)
    unescaped = attr.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")
    assert json.loads(unescaped) == legend
    assert "data-slices='71'" in html
    assert 'data-mode="volume"' in html
    assert 'data-ct-url="/jobs/a/ct.nii.gz"' in html
    assert 'fill="rgb(255, 64, 64)"' in html
    assert "style=" not in html  # CSP: no inline styles
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # CSP: no inline scripts
    assert '<script src="/static/vendor/niivue/niivue.umd.js"></script>' in html
    assert '<script src="/static/viewer.js"></script>' in html
    for control in (
        "view-axial",
        "view-coronal",
        "view-sagittal",
        "view-multiplanar",
        "window-lung",
        "window-mediastinum",
        "opacity",
        "plane",
        "slice",
    ):
        assert f'id="lv-{control}"' in html
