"""The web service end to end with the real app (TestClient), its inline worker and the shipped model,
on SQLite and on a real MariaDB server (``tests/services.py``): register, log in, upload real scans,
wait for the job, read the result page, download, history, delete, log out."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.settings import Settings
from webclient import PASSWORD, WebClient


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.slow)])
def web(request, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="test-secret")
    if request.param == "mariadb":
        url = request.getfixturevalue("mariadb_url")
        settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="test-secret", database_url=url)
        _empty_database(url)
    with WebClient(create_app(settings)) as client:
        client.settings = settings
        yield client


def _empty_database(url: str) -> None:
    """The MariaDB server lives for the session: each test starts from an empty schema."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in ("jobs", "nodules", "analyses", "access_tokens", "sessions", "users", "alembic_version"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def kmader_slice(index: int = 3) -> Path:
    return sorted(shared("ct-lung-kmader", "images").iterdir())[index]


def test_slice_analysis_from_registration_to_deletion(web):
    assert web.register("Ada@Example.org", full_name="Ada Lovelace").status_code == 200
    assert web.login("ada@example.org").status_code == 303
    response = web.upload(kmader_slice())
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    assert web.wait(url)["state"] == "done"
    page = web.get(url).text
    assert "Screening support only" in page and 'data-mode="png"' in page and "lung" in page
    report = web.get(f"{url}/files/report").json()
    assert report["measurements"]["total"]["voxels"] > 1000 and report["disclaimer"]
    mask = web.get(f"{url}/files/labels-png")
    assert mask.status_code == 200 and mask.headers["content-type"] == "image/png"
    assert web.get(f"{url}/slice.png").content[:8] == b"\x89PNG\r\n\x1a\n"
    history = web.get("/analyses").text
    assert kmader_slice().name in history and url.split("/")[-1] in history
    folder = next((web.settings.data_dir / "analyses").glob(f"*/{url.split('/')[-1]}"))
    assert (folder / "result" / "labels.png").is_file()
    assert f'href="/analyses/{url.split("/")[-1]}/delete"' in web.get(url).text  # a link to a question, not a button
    question = web.get(f"{url}/delete")
    assert question.status_code == 200 and "cannot be undone" in question.text and folder.exists()
    assert web.post(f"{url}/delete").status_code == 303
    assert web.get(url).status_code == 404 and not folder.exists()
    assert web.post("/logout").status_code == 303
    assert web.get("/analyses", follow_redirects=False).status_code == 303  # signed out


@pytest.mark.slow
def test_popi_dicom_zip_gives_the_cli_volumes_a_dicom_seg_and_a_deidentified_copy(tmp_path):
    """The real POPI series as a zip (how a clinician exports a study): the web result equals the CLI's
    (3003.4 / 2434.2 mL), the DICOM-SEG downloads, and the stored copy lost the identifying values."""
    settings = Settings(data_dir=tmp_path / "data", workers=1, secret_key="k")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for index, path in enumerate(sorted(shared("ct-volume-popi", "dicom").iterdir())):
            dataset = pydicom.dcmread(path)
            dataset.PatientName, dataset.PatientID, dataset.InstitutionName = "Doe^Jane", "PID-73311", "St Example"
            buffer = io.BytesIO()
            dataset.save_as(buffer)
            bundle.writestr(f"STUDY/SERIES/IM{index:04d}", buffer.getvalue())
    with WebClient(create_app(settings)) as web:
        web.register("clin@example.org")
        web.login("clin@example.org")
        response = web.upload(files=[("files", ("study.zip", archive.getvalue(), "application/zip"))])
        assert response.status_code == 303, response.text
        url = response.headers["location"]
        assert web.wait(url)["state"] == "done"
        report = web.get(f"{url}/files/report").json()
        assert report["measurements"]["right_lung"]["volume_ml"] == 3003.4
        assert report["measurements"]["left_lung"]["volume_ml"] == 2434.2
        page = web.get(url).text
        assert 'data-mode="volume"' in page and "3003.4" in page and "DICOM SEG" in page
        seg = web.get(f"{url}/files/dicom-seg")
        assert seg.status_code == 200 and pydicom.dcmread(io.BytesIO(seg.content)).Modality == "SEG"
        # the SEG for the user's PACS references the original series; the plain one the de-identified copy
        original = pydicom.dcmread(sorted(shared("ct-volume-popi", "dicom").iterdir())[0], stop_before_pixels=True)
        pacs = pydicom.dcmread(io.BytesIO(web.get(f"{url}/files/dicom-seg-pacs").content))
        plain = pydicom.dcmread(io.BytesIO(seg.content))
        assert pacs.ReferencedSeriesSequence[0].SeriesInstanceUID == original.SeriesInstanceUID
        assert plain.ReferencedSeriesSequence[0].SeriesInstanceUID != original.SeriesInstanceUID
        assert pacs.StudyInstanceUID == original.StudyInstanceUID and pacs.PatientName == plain.PatientName
        assert 'id="pacs-note"' in page
        assert web.get(f"{url}/files/ct").content[:2] == b"\x1f\x8b"  # gzip NIfTI for the viewer
        for plane in ("axial", "coronal", "sagittal"):
            assert web.get(f"{url}/slice.png?plane={plane}").status_code == 200
    stored = list((settings.data_dir / "analyses").rglob("input/*.dcm"))
    assert len(stored) == 71
    for path in stored:
        raw = path.read_bytes()
        assert b"Doe^Jane" not in raw and b"PID-73311" not in raw and b"St Example" not in raw


def test_api_with_a_personal_access_token(web):
    web.register("api@example.org")
    web.login("api@example.org")
    page = web.post("/account/tokens", {"name": "script"}).text
    token = page.split('id="new-token">')[1].split("<")[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert web.http.get("/api/v1/analyses").status_code == 401
    image = kmader_slice(5)
    created = web.http.post(
        "/api/v1/analyses",
        headers=headers,
        data={"model": "ct-lung"},
        files=[("files", (image.name, image.read_bytes(), "image/tiff"))],
    )
    assert created.status_code == 202, created.text
    analysis = created.json()["id"]
    web.wait(f"/analyses/{analysis}")
    result = web.http.get(f"/api/v1/analyses/{analysis}", headers=headers).json()
    assert result["job"]["state"] == "done" and result["summary"]["measurements"]["total"]["voxels"] > 0
    assert web.http.get(result["downloads"]["report"], headers=headers).json()["disclaimer"]
    listing = web.http.get("/api/v1/analyses", headers=headers).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == analysis
    assert "/api/v1/analyses" in web.http.get("/api/openapi.json").json()["paths"]
    refused = web.http.post(
        "/api/v1/analyses",
        headers=headers,
        data={"model": "ct-lung"},
        files=[("files", ("notes.txt", b"hello", "text/plain"))],
    )
    assert refused.status_code == 415 and "notes.txt" in refused.json()["detail"] or refused.status_code == 415
    assert web.http.delete(f"/api/v1/analyses/{analysis}", headers=headers).status_code == 204
    assert web.http.get(f"/api/v1/analyses/{analysis}", headers=headers).status_code == 404


def test_deleting_the_account_removes_every_analysis_and_file(web):
    web.register("leaving@example.org")
    web.login("leaving@example.org")
    url = web.upload(kmader_slice(6)).headers["location"]
    web.wait(url)
    folders = list((web.settings.data_dir / "analyses").iterdir())
    assert len(folders) == 1 and any(folders[0].rglob("*.png"))
    web.get("/account")
    assert web.post("/account/delete", {"password": "not it"}).status_code == 400
    assert web.post("/account/delete", {"password": PASSWORD}).status_code == 303
    assert not folders[0].exists()
    assert web.login("leaving@example.org").status_code == 401
    with web.http.app.state.sessions() as db:
        from sqlalchemy import func, select

        from lungseg.web.models import Analysis, Job, User

        assert all(db.scalar(select(func.count()).select_from(table)) == 0 for table in (User, Analysis, Job))


def test_upload_options_reach_the_segmenter(web):
    """The form's post-processing and TTA choices (CLI defaults when absent) are what the job runs with."""
    web.register("opts@example.org")
    web.login("opts@example.org")
    image = kmader_slice(8)
    default = web.upload(image).headers["location"]
    web.get("/analyses/new")
    chosen = web.post(
        "/analyses",
        {"model": "ct-lung", "tta": "false", "smooth": "1", "fill_holes_2d": "true"},
        files=[("files", (image.name, image.read_bytes(), "image/tiff"))],
    ).headers["location"]
    reports = []
    for url in (default, chosen):
        assert web.wait(url)["state"] == "done"
        reports.append(web.get(f"{url}/files/report").json())
    assert reports[0]["tta"] is True and reports[0]["postprocess"]["smooth_radius"] == 0
    assert reports[1]["tta"] is False and reports[1]["postprocess"]["smooth_radius"] == 1
    assert reports[1]["postprocess"]["fill_holes_2d"] is True and reports[0]["postprocess"]["fill_holes_2d"] is False
    web.get("/analyses/new")
    bad = web.post(
        "/analyses",
        {"model": "ct-lung", "smooth": "99"},
        files=[("files", (image.name, image.read_bytes(), "image/tiff"))],
    )
    assert bad.status_code == 422 and "smooth" in bad.text


def test_a_lesion_model_on_an_8bit_covid_slice(web):
    """The upload form offers the shipped lesion models (not the 8-bit lung variant, which the input
    picks, nor the retired lung-tumor); the result shows lesion labels in their colours and the burden
    per lung."""
    web.register("les@example.org")
    web.login("les@example.org")
    form = web.get("/analyses/new").text
    assert 'value="covid-infection"' in form and 'value="covid-infection-types"' in form
    assert 'value="lung-tumor"' not in form and "ct-lung-8bit" not in form and "lung-nodule-search" not in form
    response = web.upload(shared("covid-infection", "train", "images", "2.jpg"), model="covid-infection")
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    assert web.wait(url)["state"] == "done"
    report = web.get(f"{url}/files/report").json()
    assert report["models"] == ["ct-lung-8bit", "covid-infection"] and report["labels"]["3"] == "infection"
    assert report["lesions"]["per_lung"]["right_lung"]["severity_band"]
    page = web.get(url).text
    assert 'id="lesion-burden"' in page and "% affected" in page
    # the lesion table's lung is the lung row plus its lesions, and its percentages are of that
    lung, lesion = (
        report["measurements"]["right_lung"],
        report["lesions"]["classes"]["infection"]["per_lung"]["right_lung"],
    )
    whole = lung["voxels"] + lesion["voxels"]
    row = page.split('id="lesion-burden"')[1].split("</tr>")[1]
    assert f"<td>{whole} px</td>" in row
    assert lesion["percent_of_lung"] == pytest.approx(100 * lesion["voxels"] / whole, abs=0.01)
    assert 'fill="rgb(255, 150, 0)"' in page and '<span class="lv-legend-name">infection</span>' in page


def test_cancer_type_classification_of_an_uploaded_slice(web):
    """An uploaded CT slice picture is classified by the shipped ct-cancer-type model: probabilities,
    calibrated confidence, the Grad-CAM heat map and the disclaimer on the result page; a CT volume and a
    chest X-ray are refused for this model at upload, with the reason."""
    web.register("cls@example.org")
    web.login("cls@example.org")
    assert 'value="ct-cancer-type"' in web.get("/analyses/new").text
    folder = shared("chest-ct-cancer", "valid", "squamous_cell_carcinoma")
    response = web.upload(sorted(folder.iterdir())[0], model="ct-cancer-type")
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    assert web.wait(url)["state"] == "done"
    page = web.get(url).text
    assert 'id="class-probabilities"' in page and "calibrated confidence" in page and 'id="heat-map"' in page
    assert "Screening support only" in page and "histology" in page
    result = web.get(f"{url}/files/classification").json()
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert result["predicted"] in result["class_names"] and result["source"] == "upload"
    assert result["predicted"].replace("_", " ") in web.get("/analyses").text  # the history shows the class
    heat = web.get(f"{url}/files/heat-map")
    assert heat.status_code == 200 and heat.content[:8] == b"\x89PNG\r\n\x1a\n"
    refused = web.upload(shared("ct-abdomen-totalseg", "nifti", "example_ct.nii.gz"), model="ct-cancer-type")
    assert refused.status_code == 422 and "single axial slice" in refused.text
    xray = web.upload(shared("xray-lung-montgomery", "images", "1.jpg"), model="ct-cancer-type")
    assert xray.status_code == 422 and "radiograph" in xray.text


def test_auto_model_sends_a_chest_xray_to_the_xray_model(web, tmp_path):
    """The form's default model is "auto": an uploaded DICOM chest X-ray (MONOCHROME1, made from a real
    Montgomery film) goes to xray-lung, the page says so and shows lung areas in cm²; the history names
    the model used; a CT slice uploaded the same way goes to ct-lung."""
    from lungseg.io import read_image
    from radiographs import write_dx

    web.register("xr@example.org")
    web.login("xr@example.org")
    form = web.get("/analyses/new").text
    assert form.index('value="auto"') < form.index('value="ct-lung"')
    film = write_dx(
        tmp_path / "film.dcm",
        read_image(shared("xray-lung-montgomery", "images", "3.jpg")),
        monochrome1=True,
        pixel_spacing=0.7,
    )
    response = web.upload(film, model="auto")
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    assert web.wait(url)["state"] == "done"
    report = web.get(f"{url}/files/report").json()
    assert report["model"] == "xray-lung" and report["findings"][0]["code"] == "model-chosen"
    assert report["measurements"]["right_lung"]["area_cm2"] > 20 and report["disclaimer"]
    assert "Test^Radiograph" not in json.dumps(report)
    page = web.get(url).text
    assert "model xray-lung chosen" in page and "cm²" in page
    history = web.get("/analyses").text
    assert "auto → xray-lung" in history and "(chest X-ray)" in history and 'id="lesion-burden"' not in page
    folder = next((web.settings.data_dir / "analyses").glob(f"*/{url.split('/')[-1]}"))
    assert set(np.unique(np.load(folder / "result" / "labels.npy"))) == {0, 1, 2}  # the viewer shows the sides
    assert web.get(f"{url}/slice.png").content[:8] == b"\x89PNG\r\n\x1a\n"
    ct = web.upload(kmader_slice(), model="auto")
    assert web.wait(ct.headers["location"])["state"] == "done"
    assert web.get(f"{ct.headers['location']}/files/report").json()["model"] == "ct-lung"


def test_an_msd_export_with_lungs_outside_the_body_shows_check_on_the_page_and_in_the_api(web):
    """The 8-bit lung model paints lung beyond the chest wall of an MSD export: the verdict is check with
    the reason and the slice, the page never says "no problems", and the page, the report and the API
    JSON carry the same verdict."""
    web.register("verdict@example.org")
    web.login("verdict@example.org")
    token = web.post("/account/tokens", {"name": "script"}).text.split('id="new-token">')[1].split("<")[0]
    headers = {"Authorization": f"Bearer {token}"}
    response = web.upload(shared("lung-tumor-msd", "images", "10035_90.png"), model="ct-lung")
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    assert web.wait(url)["state"] == "done"
    report = web.get(f"{url}/files/report").json()
    assert report["verdict"]["status"] == "check"
    assert "lung-outside-body" in {reason["code"] for reason in report["verdict"]["reasons"]}
    page = web.get(url).text
    assert 'id="verdict"' in page and "<strong>check</strong>" in page and "no problems" not in page.lower()
    assert "lung drawn outside the body outline" in page
    api = web.http.get(f"/api/v1/analyses/{url.split('/')[-1]}", headers=headers).json()
    assert api["summary"]["verdict"] == report["verdict"]
