"""A reference mask uploaded with the scan (``web.reference``): a real kmader CT slice with its own lung mask
gives Dice/IoU on the result page; a mask of another size is stated as a problem, not a failed job; an
unreadable or unsupported reference refuses the upload with the reason; the per-class rule on label maps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.reference import agreement
from lungseg.web.settings import Settings
from webclient import WebClient

SLICE = "ID_0000_Z_0142"


def upload_with_reference(client: WebClient, reference: tuple[str, bytes, str]):
    client.get("/analyses/new")
    image = shared("ct-lung-kmader", "images", f"{SLICE}.tif")
    files = [("files", (image.name, image.read_bytes(), "image/tiff")), ("reference", reference)]
    return client.post("/analyses", {"model": "ct-lung"}, files=files)


def test_dice_and_iou_against_an_uploaded_reference(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="k")
    mask = shared("ct-lung-kmader", "masks", f"{SLICE}.tif")
    with WebClient(create_app(settings)) as client:
        client.register("ref@example.org")
        client.login("ref@example.org")
        response = upload_with_reference(client, ("radiologist.tif", mask.read_bytes(), "image/tiff"))
        assert response.status_code == 303, response.text[-600:]
        url = response.headers["location"]
        assert client.wait(url)["state"] == "done"
        page = client.get(url).text
        assert "Against your reference mask" in page and "radiologist.tif" in page
        dice = float(page.split('id="reference-scores"')[1].split("<td>lungs</td><td>")[1].split("<")[0])
        assert 0.95 < dice <= 1.0  # ct-lung on a kmader slice against the set's own mask
        analysis = url.rsplit("/", 1)[1]
        stored = list((settings.data_dir / "analyses").rglob(f"{analysis}/reference/*"))
        assert [p.name for p in stored] == ["reference.tif"]  # the client's file name is not kept on disk

        small = io.BytesIO()
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(small, format="PNG")
        other = upload_with_reference(client, ("small.png", small.getvalue(), "image/png"))
        url = other.headers["location"]
        assert client.wait(url)["state"] == "done"  # a wrong size is a stated problem, not a failed job
        assert "was not compared: the reference is 64 x 64 but the scan is 512 x 512" in client.get(url).text

        refused = upload_with_reference(client, ("mask.txt", b"not a mask", "text/plain"))
        assert refused.status_code == 415 and "reference mask: use one of" in refused.text
        broken = upload_with_reference(client, ("mask.png", b"\x89PNG broken", "image/png"))
        assert broken.status_code == 422 and "reference mask:" in broken.text


def test_per_class_scores_only_for_lungsegs_label_values():
    labels = np.zeros((10, 10), np.uint8)
    labels[:, :5], labels[:, 5:] = 1, 2
    labels[0, 0] = 8  # airway: not lung
    both = agreement(labels, np.where(labels == 8, 0, labels), "r")
    assert both["lungs"]["dice"] == 1.0 and [c["name"] for c in both["classes"]] == ["right lung", "left lung"]
    binary = agreement(labels, (labels > 0) * 255, "r")
    assert binary["classes"] == [] and binary["lungs"]["dice"] == pytest.approx(2 * 99 / 199, abs=1e-4)
    assert "problem" in agreement(labels, np.zeros((3, 10, 10)), "r")
