"""Hardening of the upload path (issue 29, "Security and data"), each test a failure of the code before it:

- a server killed while it stages or de-identifies an upload leaves no raw DICOM in the user's folder,
  and the next start sweeps the staging folder, so no raw file survives a restart;
- an upload or API write with a bogus or expired credential is refused before its body is read;
- the documented file limit (2,000) is the real one, not Starlette's default of 1,000;
- a zip of many entries just under 1 MiB is a decompression bomb as a whole, refused from the central
  directory before any entry is unpacked; uploads staged at once share one byte quota.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import select

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.models import Analysis, UserSession, utcnow
from lungseg.web.settings import Settings
from lungseg.web.staging import StagingArea
from lungseg.web.uploads import UploadLimits, UploadRefused, stage_upload
from webclient import BASE, WebClient

TESTS = Path(__file__).resolve().parent
PHI = b"Doe^Jane"


def _phi_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and PHI in path.read_bytes()]


@pytest.fixture(scope="module")
def identified_series(tmp_path_factory) -> list[Path]:
    """Four POPI slices carrying a patient name, as a PACS export would."""
    folder = tmp_path_factory.mktemp("identified")
    paths = []
    for index, source in enumerate(sorted(shared("ct-volume-popi", "dicom").iterdir())[30:34]):
        dataset = pydicom.dcmread(source)
        for tag in [tag for tag in dataset.keys() if tag.is_private]:  # POPI's private (01F1,1026) is malformed
            del dataset[tag]
        dataset.PatientName = PHI.decode()
        dataset.save_as(folder / f"slice{index}.dcm")
        paths.append(folder / f"slice{index}.dcm")
    return paths


# --- 1. a crash while an upload is staged leaves no raw PHI in a user's folder --------------------------

CRASHING_SERVER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from webclient import WebClient
    import lungseg.web.deid, lungseg.web.results, lungseg.web.uploads
    from lungseg.web.app import create_app
    from lungseg.web.settings import Settings

    point, data_dir, paths = sys.argv[2], sys.argv[3], [Path(p) for p in sys.argv[4:]]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "staging":  # two files written, the third arriving
        store = lungseg.web.uploads._Folder.store
        def store_or_die(self, *args, **kwargs):
            if len(self.names) == 2:
                die()
            return store(self, *args, **kwargs)
        lungseg.web.uploads._Folder.store = store_or_die
    elif point == "de-identification":
        lungseg.web.deid.deidentify_dicom_folder = die
    else:  # the model's screen, after de-identification
        lungseg.web.results.screen_input = die
    app = create_app(Settings(data_dir=data_dir, workers=0, secret_key="s"))
    with WebClient(app) as client:
        client.register("crash@example.org")
        client.login("crash@example.org")
        client.upload(*paths)
    sys.exit(3)  # not reached: killed above
""")


@pytest.mark.parametrize("point", ["staging", "de-identification", "screen"])
def test_a_server_killed_mid_upload_leaves_no_raw_dicom_after_restart(tmp_path, identified_series, point):
    data_dir = tmp_path / "data"
    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_SERVER, str(TESTS), point, str(data_dir), *map(str, identified_series)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    user_folders = data_dir / "analyses"
    assert not [path for path in user_folders.rglob("*") if path.is_file()], "nothing may enter a user's folder"
    assert any(path.is_file() for path in (data_dir / "staging").rglob("*")), "the crash was not mid-upload"
    if point != "screen":
        assert _phi_files(data_dir / "staging"), "the raw files were still being staged"
    with WebClient(create_app(Settings(data_dir=data_dir, workers=0, secret_key="s"))) as client:  # restart
        assert client.get("/healthz").status_code == 200
        assert not _phi_files(data_dir) and list((data_dir / "staging").iterdir()) == []
        with client.http.app.state.sessions() as db:
            assert db.scalar(select(Analysis)) is None


def test_the_sweep_spares_uploads_in_progress(tmp_path):
    """A folder whose lock a live upload holds survives a sweep (another server process may share the data
    folder); a folder left by a dead process (lock file unlocked) or without a lock file goes."""
    area = StagingArea(tmp_path / "staging", 1 << 20)
    with area.claim() as live:
        (live.path / "raw.dcm").write_bytes(PHI)
        dead = area.root / "0123456789abcdef"
        dead.mkdir()
        (dead / "raw.dcm").write_bytes(PHI)
        (area.root / "0123456789abcdef.lock").write_bytes(b"")
        orphan = area.root / "fedcba9876543210"
        orphan.mkdir()
        (orphan / "raw.dcm").write_bytes(PHI)
        assert area.sweep() == 2
        assert sorted(p.name for p in area.root.iterdir()) == sorted([live.path.name, f"{live.path.name}.lock"])
        assert (live.path / "raw.dcm").read_bytes() == PHI
    assert list(area.root.iterdir()) == []


def test_an_accepted_dicom_upload_enters_the_users_folder_de_identified(tmp_path, identified_series):
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s"))
    with WebClient(app) as client:
        client.register("deid@example.org")
        client.login("deid@example.org")
        response = client.upload(*identified_series)
        assert response.status_code in (303, 422), response.text[-500:]  # four slices may be refused by the screen
    assert not _phi_files(tmp_path / "data")
    assert list((tmp_path / "data" / "staging").iterdir()) == []


# --- 2. a bogus credential is refused before the body is read -------------------------------------------

BOUNDARY = "lungsegboundary"
BODY_BYTES = 40 << 20
CHUNK = 64 << 10


def _post_streamed(app, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """POST a 40 MiB multipart upload straight to the ASGI app, 64 KiB per receive(); returns the status
    and how many body bytes the app pulled."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="scan.nii.gz"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    content = BODY_BYTES - len(head) - len(tail)
    pieces = [head] + [b"\0" * CHUNK] * (content // CHUNK) + [b"\0" * (content % CHUNK), tail]
    delivered, status = 0, None

    async def receive():
        nonlocal delivered
        if not pieces:
            return {"type": "http.disconnect"}
        body = pieces.pop(0)
        delivered += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    all_headers = {
        "host": "testserver",
        "origin": BASE,
        "content-length": str(BODY_BYTES),
        "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        **headers,
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("10.1.2.3", 50000),
        "server": ("testserver", 80),
        "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()],
    }
    _run_in_own_loop(app(scope, receive, send))
    return status, delivered


def _run_in_own_loop(coroutine) -> None:
    """``asyncio.run`` in a thread of its own: a browser test earlier in the session (Playwright's sync API)
    can leave an event loop running in the main thread, where asyncio.run refuses to start."""
    import threading

    failure: list[BaseException] = []

    def target():
        try:
            asyncio.run(coroutine)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(error)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


@pytest.fixture
def signed_in(tmp_path):
    """An app (1 GiB upload limit, the default) and a signed-in client's session cookie."""
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s"))
    with WebClient(app) as client:
        client.register("body@example.org")
        client.login("body@example.org")
        yield app, client.http.cookies["lungseg_session"]


@pytest.mark.parametrize(
    "path, credential",
    [
        ("/analyses", "bogus cookie"),
        ("/analyses", "expired session"),
        ("/api/v1/analyses", "bogus token"),
    ],
)
def test_an_upload_with_a_bogus_credential_is_cut_off_before_its_body(signed_in, path, credential):
    app, cookie = signed_in
    headers = {
        "bogus cookie": {"cookie": "lungseg_session=forged-token"},
        "expired session": {"cookie": f"lungseg_session={cookie}"},
        "bogus token": {"authorization": "Bearer forged-token"},
    }[credential]
    if credential == "expired session":
        with app.state.sessions() as db:
            for session in db.scalars(select(UserSession)):
                session.last_seen = utcnow() - timedelta(days=1)
            db.commit()
    status, delivered = _post_streamed(app, path, headers)
    assert status == 401 and delivered <= 4096, (status, delivered)


def test_a_live_session_still_streams_its_upload(signed_in):
    """The control: with a live cookie the whole body is read (here refused afterwards: no CSRF token)."""
    app, cookie = signed_in
    status, delivered = _post_streamed(app, "/analyses", {"cookie": f"lungseg_session={cookie}"})
    assert delivered == BODY_BYTES and status == 403


# --- 3. the documented file limit is the real one ---------------------------------------------------------


def _tiny_files(count: int) -> list:
    return [("files", (f"{index:05d}.dcm", b"not really DICOM", "application/dicom")) for index in range(count)]


def test_the_documented_file_limit_is_the_form_parsers_limit(tmp_path):
    """2,000 files (the default ``max_upload_files``) reach the upload checks (here: they are not DICOM);
    2,001 are refused with the limit named, on the page and in the API."""
    settings = Settings(data_dir=tmp_path / "data", workers=0, secret_key="s")
    assert settings.max_upload_files == 2000
    with WebClient(create_app(settings)) as client:
        client.register("many@example.org")
        client.login("many@example.org")
        at_limit = client.upload(files=_tiny_files(2000))
        assert at_limit.status_code == 400 and "could not be de-identified" in at_limit.text, at_limit.text[-800:]
        over = client.upload(files=_tiny_files(2001))
        assert over.status_code == 413 and "too many files: at most 2000 per upload" in over.text, over.text[-800:]
        token = client.post("/account/tokens", {"name": "t"}).text.split('id="new-token">')[1].split("<")[0]
        api = client.http.post(
            "/api/v1/analyses",
            files=_tiny_files(2001),
            data={"model": "ct-lung"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert api.status_code == 413 and "at most 2000" in api.json()["detail"]
        api = client.http.post(
            "/api/v1/analyses",
            files=_tiny_files(2000),
            data={"model": "ct-lung"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert api.status_code == 400 and "could not be de-identified" in api.json()["detail"]


# --- 6. decompression bombs of many entries; a byte quota for uploads staged at once -------------------


def _many_entry_bomb(entries: int = 120) -> bytes:
    """``entries`` entries of 1 MiB - 1 zero bytes each: each under the per-entry ratio's 1 MiB threshold,
    about 1 KB compressed, 120 MiB unpacked from a zip of about 130 KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(entries):
            archive.writestr(f"series/{index:04d}.dcm", b"\0" * ((1 << 20) - 1))
    return buffer.getvalue()


def test_a_zip_of_many_small_bombs_is_refused_before_extraction(tmp_path, monkeypatch):
    bomb = _many_entry_bomb()
    assert len(bomb) < 200 << 10

    def no_extraction(*args, **kwargs):
        raise AssertionError("an entry was opened for extraction")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_extraction)
    with pytest.raises(UploadRefused) as refused:
        stage_upload([("study.zip", io.BytesIO(bomb))], tmp_path / "uploads" / "dest", UploadLimits())
    assert refused.value.status == 413 and "decompression bomb" in refused.value.reason
    assert "120 files" in refused.value.reason
    assert list((tmp_path / "uploads").iterdir()) == []


def test_a_many_entry_bomb_upload_writes_nothing(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s"))
    with WebClient(app) as client:
        client.register("bomb@example.org")
        client.login("bomb@example.org")
        response = client.upload(files=[("files", ("study.zip", _many_entry_bomb(), "application/zip"))])
        assert response.status_code == 413 and "decompression bomb" in response.text
    assert not [path for path in (tmp_path / "data").rglob("*.dcm")]


def test_uploads_staged_at_once_share_a_byte_quota(tmp_path):
    """Two uploads of 2 MiB with a 3 MiB quota: the second is refused (503) while the first is staged,
    and accepted once the first is done."""
    area = StagingArea(tmp_path / "staging", 3 << 20)
    volume = [("scan.nii.gz", io.BytesIO(os.urandom(2 << 20)))]
    with area.claim() as first:
        stage_upload(volume, first.path / "input", UploadLimits(), first.take)
        assert area.used == 2 << 20
        with area.claim() as second, pytest.raises(UploadRefused) as refused:
            stage_upload(
                [("scan.nii.gz", io.BytesIO(os.urandom(2 << 20)))], second.path / "input", UploadLimits(), second.take
            )
        assert refused.value.status == 503 and "busy" in refused.value.reason
    assert area.used == 0 and list(area.root.iterdir()) == []
    with area.claim() as third:
        assert (
            stage_upload(
                [("scan.nii.gz", io.BytesIO(os.urandom(2 << 20)))], third.path / "input", UploadLimits(), third.take
            ).files
            == 1
        )
