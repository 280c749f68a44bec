"""Nodule growth in the web app (``web.growth``): two uploads of one real nodule (the LIDC-IDRI crops of
``LIDC-IDRI-0001_nodule-0`` stacked as a HU volume) with one study label, the second with every voxel
1.2 times larger (volume x 1.728), compared from the nodule table; the interval from the user or from
DICOM dates shifted by the label's one offset; other labels and other users see nothing."""

from __future__ import annotations

import math
import shutil
from datetime import date
from types import SimpleNamespace

import pydicom
import pytest

from lungseg.web import growth
from lungseg.web.app import create_app
from lungseg.web.deid import deidentify_dicom_folder
from lungseg.web.schemas import study_label
from lungseg.web.service import date_salt
from lungseg.web.settings import Settings
from test_nodules import lidc_nodule, nifti
from test_web_nodules import SPACING, click, measured
from test_web_uploads import popi_dicom  # noqa: F401  (the real POPI series in ../shared)
from webclient import WebClient

NODULE = "LIDC-IDRI-0001_nodule-0"
SCALE = 1.2


def uploaded(client: WebClient, path, label: str) -> str:
    response = client.upload(path, label=label)
    assert response.status_code == 303, response.text[:500]
    url = response.headers["location"]
    assert client.wait(url)["state"] == "done"
    client.get(url)
    return url


def test_growth_between_two_scans_of_one_study_label(tmp_path):
    hu, truth = lidc_nodule(NODULE)
    z = len(hu) // 2
    first = nifti(tmp_path / "baseline.nii.gz", hu, SPACING)
    second = nifti(tmp_path / "follow-up.nii.gz", hu, tuple(SCALE * s for s in SPACING))
    settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="k")
    with WebClient(create_app(settings)) as client:
        client.register("owner@example.org")
        client.login("owner@example.org")
        old_url = uploaded(client, first, "case 1")
        new_url = uploaded(client, second, "  case   1 ")  # the same label once spaces are collapsed
        other_url = uploaded(client, first, "case 2")
        page = client.get(new_url).text
        assert "Study label: <strong>case 1</strong>" in page

        rows = {}
        for url in (old_url, new_url, other_url):
            rows[url] = measured(client, url, click(client, url, 64, 64, z).json()["id"])
            assert rows[url]["found"], rows[url]
        old, new = rows[old_url], rows[new_url]
        assert new["volume_mm3"] / old["volume_mm3"] == pytest.approx(SCALE**3, rel=0.15)

        compare = f"{new_url}/nodules/{new['id']}/compare"
        assert compare in client.get(new_url).text  # the table's Compare link
        form = client.get(compare).text
        assert f'value="{old["id"]}"' in form and f'value="{rows[other_url]["id"]}"' not in form  # case 2 is apart

        # NIfTI carries no date: the order and interval from the user
        answer = client.get(f"{compare}?other={old['id']}&earlier=other&interval_days=365")
        assert answer.status_code == 200, answer.text[:300]
        ratio = new["volume_mm3"] / old["volume_mm3"]
        vdt = 365 * math.log(2) / math.log(ratio)
        text = answer.text
        assert f"({100 * (ratio - 1):+.1f} %)" in text
        assert f"{vdt:.0f} days" in text and "given by the user" in text and "growing" in text
        unknown = client.get(f"{compare}?other={old['id']}&earlier=other").text
        assert "needs the interval between the scans" in unknown and "unknown" in unknown
        swapped = client.get(f"{compare}?other={old['id']}&earlier=this&interval_days=365").text
        assert "shrinking" in swapped and "did not grow" in swapped

        assert client.get(f"{compare}?other={rows[other_url]['id']}").status_code == 404  # another label
        token = client.post("/account/tokens", {"name": "script"}).text.split('id="new-token">')[1].split("<")[0]
        api = f"/api/v1/analyses/{new_url.rsplit('/', 1)[1]}/nodules/{new['id']}/compare"
        answer = client.http.get(
            f"{api}?other={old['id']}&interval_days=365", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json()["earlier"]["nodule_id"] == old["id"] and answer.json()["later"]["nodule_id"] == new["id"]
        assert answer.json()["growth"]["volume_doubling_time_days"] == pytest.approx(vdt, abs=1)
        assert (
            client.http.get(
                f"{api}?other={rows[other_url]['id']}", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 404
        )
        assert client.get(f"{compare}?other={old['id']}&interval_days=-3").status_code == 422
        listed = client.get("/analyses?label=case+1").text
        assert listed.count('/delete"') == 2  # one row (and its Delete link) per analysis of the label
        assert "case 2" not in listed.split('id="history"')[1]
        found = client.get("/analyses?q=FOLLOW").text  # a file name, any case
        assert found.count('/delete"') == 1 and "follow-up.nii.gz" in found
        assert client.get("/analyses?q=case").text.count('/delete"') == 3  # labels too
        assert "No analyses matching" in client.get("/analyses?q=50%25_").text  # LIKE wildcards are literal

        client.post("/logout")
        client.register("other@example.org")
        client.login("other@example.org")
        assert client.get(f"{compare}?other={old['id']}").status_code == 404
        assert "No analyses with the study label" in client.get("/analyses?label=case+1").text


def test_study_label_rules():
    assert study_label("  Case   12 / B-07 ") == "Case 12 / B-07"
    assert study_label("") is None and study_label(None) is None
    for bad in ("x" * 61, "<script>", "name; drop"):
        with pytest.raises(ValueError, match="study label"):
            study_label(bad)


def test_a_label_keeps_the_interval_between_de_identified_dates(tmp_path, popi_dicom):
    """The real POPI series de-identified as four uploads: the two of one label get the same date shift
    (so their dates keep the interval), uploads without a label and of another label get others."""
    settings = Settings(data_dir=tmp_path / "data", secret_key="k")
    user = SimpleNamespace(id="user-1")
    original = pydicom.dcmread(sorted(popi_dicom.iterdir())[0], stop_before_pixels=True).StudyDate
    shifted = {}
    for name, label in (("a", "case 1"), ("b", "case 1"), ("c", None), ("d", "case 2")):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(sorted(popi_dicom.iterdir())[0], folder / "0001.dcm")
        deidentify_dicom_folder(folder, salt=date_salt(settings, user, label, f"analysis-{name}"))
        shifted[name] = pydicom.dcmread(folder / "0001.dcm").StudyDate
    assert shifted["a"] == shifted["b"] != original
    assert shifted["c"] != shifted["a"] and shifted["d"] != shifted["a"]


def test_compare_orders_by_dates_and_states_the_source():
    def side(volume: float, day: date | None):
        nodule = SimpleNamespace(result={"volume_mm3": volume})
        return growth.Measured(SimpleNamespace(), nodule, day, "StudyDate" if day else None)

    later, earlier = side(200.0, date(2025, 3, 1)), side(100.0, date(2024, 3, 1))
    result = growth.compare(later, earlier, None, first_is_older=True)  # the dates win over the order given
    assert result.old is earlier and result.growth["interval_days"] == 365
    assert (
        result.growth["volume_doubling_time_days"] == 365 and "StudyDate 2024-03-01" in result.growth["interval_source"]
    )
    undated = growth.compare(side(200.0, None), side(100.0, None), None, first_is_older=False)
    assert undated.growth["change_percent"] == 100.0 and undated.growth["volume_doubling_time_days"] is None
    assert undated.growth["interval_source"].startswith("unknown")


def test_a_scan_date_is_read_only_from_a_dicom_upload_shifted_per_label(tmp_path, popi_dicom):
    from lungseg.web.results import analysis_dir

    header = pydicom.dcmread(sorted(popi_dicom.iterdir())[0], stop_before_pixels=True)
    nodule = SimpleNamespace(result={"volume_mm3": 1.0})
    dates = {}
    for shift in ("study label", "upload"):
        analysis = SimpleNamespace(
            id=f"a-{shift[0]}", user_id="u", input_kind="dicom-series", options={"input": "series", "date_shift": shift}
        )
        series = analysis_dir(tmp_path, "u", analysis.id) / "input" / "series"
        series.mkdir(parents=True)
        shutil.copy(sorted(popi_dicom.iterdir())[0], series / "0001.dcm")
        found = growth.measured(tmp_path, analysis, nodule)
        dates[shift] = (found.scan_date, found.date_tag)
    day = header.StudyDate
    assert dates["study label"] == (date(int(day[:4]), int(day[4:6]), int(day[6:])), "StudyDate")
    assert dates["upload"] == (None, None)  # shifted per upload: not comparable, not used
