"""The viewer's Nodule mode through the real app (TestClient, its inline worker, the shipped ``ct-lung`` and
``lung-nodule``): a real scan made from the LIDC-IDRI crops of one nodule is uploaded and segmented, a click
at the nodule's centre goes through ``POST /analyses/{id}/nodules`` as a small job, and its row (volume,
axes, HU, type, Lung-RADS, confidence) and overlay (label 7) come back; a click on aerated lung gives a row
saying no nodule was found; other users get 404; the click needs the CSRF token; the rate and the count
per analysis are limited; a 2D upload works with z = 0; the token API has the same routes."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from lungseg.web.app import create_app
from lungseg.web.settings import Settings
from test_nodules import lidc_nodule, nifti
from test_web import web  # noqa: F401  (the app on SQLite, and on MariaDB among the slow tests)
from webclient import WebClient

NODULE = "LIDC-IDRI-0001_nodule-0"
SPACING = (0.7, 0.7, 1.25)  # x, y, z mm


@pytest.fixture(scope="module")
def lidc_scan(tmp_path_factory):
    """The nodule's crops stacked as a HU volume (128 x 128 x 8 at 0.7 x 0.7 x 1.25 mm), its consensus,
    and an aerated point far from it (x, y, z)."""
    hu, truth = lidc_nodule(NODULE)
    path = nifti(tmp_path_factory.mktemp("lidc") / "lidc-nodule.nii.gz", hu, SPACING)
    z = len(hu) // 2
    ys, xs = np.nonzero(~truth[z] & (hu[z] < -800))
    far = np.argmax(np.hypot(ys - 64, xs - 64))
    return path, hu, truth, (int(xs[far]), int(ys[far]), z)


def analysed(client: WebClient, path, email: str = "owner@example.org") -> str:
    """Register, sign in, upload ``path`` and wait for its analysis; the result page's URL."""
    client.register(email)
    client.login(email)
    response = client.upload(path)
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    assert client.wait(url)["state"] == "done"
    client.get(url)  # the result page's CSRF token, as the viewer's script has it
    return url


def click(client: WebClient, url: str, x: int, y: int, z: int = 0, **kwargs):
    return client.post(f"{url}/nodules", {"x": str(x), "y": str(y), "z": str(z)}, **kwargs)


def measured(client: WebClient, url: str, nodule_id: str, timeout: float = 300) -> dict:
    """Poll the nodule's row (as the viewer does) until its job ends."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        response = client.http.get(f"{url}/nodules/{nodule_id}")
        assert response.headers.get("content-type", "").startswith("application/json"), (
            response.status_code,
            response.text[:300],
        )
        row = response.json()
        if row["job"]["state"] in ("done", "failed"):
            return row
        time.sleep(0.3)
    raise AssertionError(f"nodule {nodule_id} not measured in {timeout} s: {row}")


def test_a_click_on_the_nodule_gives_its_row_and_overlay_and_only_to_the_owner(web, lidc_scan):
    path, hu, truth, far = lidc_scan
    url = analysed(web, path)
    page = web.get(url).text
    assert 'data-nodules-url="' in page and 'id="lv-nodule-mode"' in page and 'id="nodule-table"' in page
    assert "No nodule yet" in page and "Screening support only" in page
    z = len(hu) // 2

    posted = click(web, url, 64, 64, z)
    assert posted.status_code == 202, posted.text
    assert posted.json()["job"]["state"] == "queued" and posted.json()["point"] == {"x": 64, "y": 64, "z": z}
    row = measured(web, url, posted.json()["id"])
    assert row["job"]["state"] == "done", row
    assert row["found"] and row["reason"] is None
    voxel_mm3 = float(np.prod(SPACING))
    consensus_mm3 = truth.sum() * voxel_mm3
    assert row["volume_mm3"] == pytest.approx(consensus_mm3, rel=0.3)
    assert row["volume_ml"] == pytest.approx(row["volume_mm3"] / 1000, abs=1e-3)
    assert row["long_axis_mm"] >= row["short_axis_mm"] > 5
    assert row["type"] in {"solid", "part-solid", "ground-glass"} and row["mean_hu"] is not None
    assert row["lung_rads"] in {"2", "3", "4A", "4B"} and "mean diameter" in row["lung_rads_rule"]
    assert 0.5 < row["confidence"] <= 1.0

    again = click(web, url, 64, 64, z)  # the same point: the row it has, no second job
    assert again.status_code == 200 and again.json()["id"] == row["id"]
    table = web.http.get(f"{url}/nodules").json()
    assert [n["id"] for n in table["nodules"]] == [row["id"]]
    assert "Lung-RADS" in table["lung_rads_note"] and table["disclaimer"]

    # the overlay: the label map with the nodule as label 7, the same voxels as the row's volume
    import SimpleITK as sitk

    overlay = web.http.get(f"{url}/nodules/labels.nii.gz")
    assert overlay.status_code == 200 and overlay.content[:2] == b"\x1f\x8b"
    scratch = web.settings.data_dir / "overlay.nii.gz"
    scratch.write_bytes(overlay.content)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(scratch)))
    assert labels.shape == hu.shape and (labels == 7).sum() == round(row["volume_mm3"] / voxel_mm3)
    nodule = labels == 7
    assert 2 * (nodule & truth).sum() / (nodule.sum() + truth.sum()) > 0.75  # the readers' nodule
    picture = np.asarray(Image.open(io.BytesIO(web.http.get(f"{url}/slice.png?index={z}").content)), np.int16)
    cyan = (picture[..., 1] - picture[..., 0] > 60) & (picture[..., 2] - picture[..., 0] > 60)
    assert (cyan & nodule[z]).sum() > 0.9 * nodule[z].sum()  # the server-drawn view (PNG) tints it cyan

    page = web.get(url).text  # the page draws the row, and the viewer's overlay now has the nodule
    assert f'data-nodule-id="{row["id"]}"' in page and f"<strong>{row['lung_rads']}</strong>" in page
    assert f"{url}/nodules/labels.nii.gz" in page and '"name": "nodule"' in page
    assert "mm³" in web.http.get(f"{url}/nodules/rows").text

    # a click on aerated lung far from the nodule: a row that says so, not an error
    missed = click(web, url, *far)
    assert missed.status_code == 202, (missed.status_code, missed.text[:300])
    miss = measured(web, url, missed.json()["id"])
    assert miss["job"]["state"] == "done" and miss["found"] is False and "no nodule found" in miss["reason"]
    assert "no nodule found" in web.http.get(f"{url}/nodules/rows").text

    # refused clicks: outside the scan, without the CSRF token, from another site
    outside = click(web, url, 500, 64, z)
    assert outside.status_code == 422, (outside.status_code, outside.text[:200])
    assert "outside the scan" in outside.json()["detail"], outside.text[:300]
    assert click(web, url, 60, 60, z, token="forged").status_code == 403
    assert click(web, url, 60, 60, z, origin="https://evil.example").status_code == 403

    # another user sees nothing of it
    web.post("/logout")
    web.register("other@example.org")
    web.login("other@example.org")
    for path_ in ("nodules", f"nodules/{row['id']}", "nodules/labels.nii.gz", "nodules/rows"):
        assert web.http.get(f"{url}/{path_}").status_code == 404, path_
    assert click(web, url, 64, 64, z).status_code == 404
    assert web.post(f"{url}/nodules/{row['id']}/delete").status_code == 404

    # signed out: 401 for the script, no redirect to a login page it cannot show
    web.post("/logout")
    assert web.http.get(f"{url}/nodules").status_code == 401


def test_limits_a_2d_upload_deleting_and_the_token_api(tmp_path, lidc_scan):
    """A slice (z = 0) with at most two nodules per analysis and three clicks a minute; a removed row frees
    its place; the personal-access-token API posts and lists the same rows."""
    _, hu, truth, far = lidc_scan
    z = len(hu) // 2
    picture = tmp_path / "lidc-slice.tif"
    Image.fromarray(hu[z].astype(np.int16)).save(picture)  # a HU slice, as a CT slice export
    settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="k", max_nodules=2, nodule_rate="4/minute")
    with WebClient(create_app(settings)) as client:
        client.settings = settings
        url = analysed(client, picture)
        page = client.get(url).text
        assert 'data-mode="png"' in page and 'id="lv-nodule-mode"' in page
        row = measured(client, url, click(client, url, 64, 64).json()["id"])
        assert row["found"] and row["point"]["z"] == 0 and row["slices"] == 1 and row["volume_mm3"] > 0
        assert row["lung_rads"] in {"2", "3", "4A", "4B"}
        assert any("pixel spacing" in w for w in row["warnings"])  # a TIFF slice carries none: 0.7 mm assumed
        assert click(client, url, 64, 64, 1).status_code == 422  # a slice has z = 0 only
        second = click(client, url, *far[:2])
        assert second.status_code == 202
        full = click(client, url, 10, 100)
        assert full.status_code == 409 and "at most 2 nodules" in full.json()["detail"]
        assert click(client, url, 11, 100).status_code == 429  # the fifth click this minute
        measured(client, url, second.json()["id"])
        assert client.post(f"{url}/nodules/{second.json()['id']}/delete").status_code == 200
        assert [n["id"] for n in client.http.get(f"{url}/nodules").json()["nodules"]] == [row["id"]]

        token = client.post("/account/tokens", {"name": "script"}).text.split('id="new-token">')[1].split("<")[0]
        headers = {"Authorization": f"Bearer {token}"}
        analysis = url.rsplit("/", 1)[1]
        listed = client.http.get(f"/api/v1/analyses/{analysis}/nodules", headers=headers)
        assert listed.status_code == 200 and listed.json()["nodules"][0]["lung_rads"] == row["lung_rads"]
        again = client.http.post(f"/api/v1/analyses/{analysis}/nodules", headers=headers, json={"x": 64, "y": 64})
        assert again.status_code == 200 and again.json()["id"] == row["id"]
        assert client.http.get(f"/api/v1/analyses/{analysis}/nodules").status_code == 401
        assert "/api/v1/analyses/{analysis_id}/nodules" in client.http.get("/api/openapi.json").json()["paths"]
