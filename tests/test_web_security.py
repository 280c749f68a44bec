"""Security of the web service, tested against the real app: ownership (404 for every route of another
user's analysis), CSRF, login rate limits, password rules and hashes, sessions, upload limits and
hostile archives, security headers."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlalchemy import select

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.models import Analysis, User
from lungseg.web.settings import Settings
from webclient import BASE, PASSWORD, WebClient


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(data_dir=tmp_path / "data", workers=1, secret_key="s", max_upload_mb=3))


@pytest.fixture
def owner_and_analysis(app):
    """A user with one finished analysis (a real kmader slice)."""
    with WebClient(app) as owner:
        owner.register("owner@example.org")
        owner.login("owner@example.org")
        image = sorted(shared("ct-lung-kmader", "images").iterdir())[2]
        url = owner.upload(image).headers["location"]
        assert owner.wait(url)["state"] == "done"
        page = owner.post("/account/tokens", {"name": "t"}).text
        token_id = re.search(r"/account/tokens/([0-9a-f-]+)/revoke", page).group(1)
        yield owner, url.split("/")[-1], token_id


def _all_routes(app) -> list:
    """Every route, including those of included routers (kept as wrappers by this FastAPI version)."""
    routes = []
    for route in app.routes:
        inner = getattr(route, "original_router", None)
        routes += list(inner.routes) if inner is not None else [route]
    return routes


def _fill(path: str, analysis_id: str, token_id: str, user_id: str) -> str:
    return (
        path.replace("{analysis_id}", analysis_id)
        .replace("{name}", "report")
        .replace("{token_id}", token_id)
        .replace("{user_id}", user_id)
    )


def test_every_route_of_another_users_analysis_is_404(app, owner_and_analysis):
    owner, analysis_id, token_id = owner_and_analysis
    with WebClient(app) as other:
        other.register("other@example.org")
        other.login("other@example.org")
        api_token = other.post("/account/tokens", {"name": "mine"}).text.split('id="new-token">')[1].split("<")[0]
        with app.state.sessions() as db:
            owner_id = db.scalar(select(User.id).where(User.email == "owner@example.org"))
        checked = 0
        for route in _all_routes(app):
            path = getattr(route, "path", "")
            if not any(key in path for key in ("{analysis_id}", "{token_id}", "{user_id}")):
                continue
            url = _fill(path, analysis_id, token_id, owner_id)
            for method in route.methods - {"HEAD"}:
                headers = {"Authorization": f"Bearer {api_token}"} if path.startswith("/api/") else {}
                if method == "GET":
                    response = other.http.get(url, headers=headers)
                elif method == "DELETE":
                    response = other.http.delete(url, headers=headers)
                else:
                    response = other.post(url) if not headers else other.http.post(url, headers=headers)
                assert response.status_code == 404, (method, url, response.status_code)
                checked += 1
        assert checked >= 11  # 6 analysis pages, 3 API routes, token revoke, admin toggle
    assert owner.get(f"/analyses/{analysis_id}").status_code == 200  # still there, untouched


def test_csrf_token_and_origin_are_required(app):
    with WebClient(app) as client:
        client.register("csrf@example.org")
        client.login("csrf@example.org")
        assert client.post("/account/tokens", {"name": "x"}, token="").status_code == 403
        assert client.post("/account/tokens", {"name": "x"}, origin="https://evil.example").status_code == 403
        assert client.post("/account/tokens", {"name": "x"}, origin=None).status_code == 403
        assert client.post("/account/tokens", {"name": "x"}).status_code == 200
        client.get("/register")
        assert client.post("/register", {"email": "a@b.org"}, token="forged").status_code == 403


def test_login_is_rate_limited_and_its_message_is_generic(app):
    """20 attempts per 15 minutes from one address (and, below, per account from any address): the 21st
    wrong login gets 429; an unknown email gets the same message as a wrong password."""
    with WebClient(app) as client:
        client.register("limit@example.org")
        client.get("/login")
        unknown = client.post("/login", {"email": "nobody@example.org", "password": "whatever1"})
        assert unknown.status_code == 401 and "The email or password is wrong." in unknown.text
        for attempt in range(19):
            response = client.post("/login", {"email": "limit@example.org", "password": f"wrong {attempt}"})
            assert response.status_code == 401 and "The email or password is wrong." in response.text
        assert client.post("/login", {"email": "limit@example.org", "password": "wrong"}).status_code == 429
        assert client.post("/login", {"email": "limit@example.org", "password": PASSWORD}).status_code == 429


def test_login_limit_counts_per_account_across_addresses():
    from lungseg.web.security import LoginLimiter

    limiter = LoginLimiter("20/15 minutes")
    assert all(limiter.allowed(f"login:ip:10.0.0.{n}", "login:account:a@b.org") for n in range(20))
    assert not limiter.allowed("login:ip:10.0.0.99", "login:account:a@b.org")  # a new address, same account
    assert limiter.allowed("login:ip:10.0.0.99", "login:account:c@d.org")


def test_passwords_sessions_and_cookies(app):
    with WebClient(app) as client:
        weak = client.register("weak@example.org", password="password123")
        assert weak.status_code == 422 and "common" in weak.text
        short = client.register("weak@example.org", password="short")
        assert short.status_code == 422 and "at least 8" in short.text
        first = client.register("strong@example.org")
        again = client.register("strong@example.org", password="another long pass")
        assert first.text.count("Registration received") == again.text.count("Registration received") == 1
        with app.state.sessions() as db:
            users = list(db.scalars(select(User)))
        assert [u.email for u in users] == ["strong@example.org"]
        assert users[0].password_hash.startswith("$argon2id$") and PASSWORD not in users[0].password_hash
        login = client.login("STRONG@example.org")
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        with WebClient(app) as second:  # another device
            second.login("strong@example.org")
            assert second.get("/account").status_code == 200
            client.get("/account")
            changed = client.post("/account/password", {"current": PASSWORD, "new": "a new long passphrase"})
            assert changed.status_code == 303
            assert second.get("/account", follow_redirects=False).status_code == 303  # signed out everywhere
        assert client.get("/account").status_code == 200  # this device got a fresh session
        client.post("/logout")
        assert client.get("/account", follow_redirects=False).status_code == 303


def test_security_headers_and_no_static_access_to_results(app, owner_and_analysis):
    owner, analysis_id, _ = owner_and_analysis
    response = owner.get(f"/analyses/{analysis_id}")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["referrer-policy"]
    assert response.headers["cache-control"] == "no-store"
    for path in ("/static/../data/analyses", f"/static/{analysis_id}", "/data/lungseg.db", "/static/../settings.py"):
        assert owner.http.get(path).status_code == 404


def test_oversize_upload_is_413_and_leaves_nothing(app, tmp_path):
    with WebClient(app) as client:
        client.register("big@example.org")
        client.login("big@example.org")
        assert 'id="upload-limit">3 MB<' in client.get("/analyses/new").text  # the form says the limit
        payload = b"\0" * (5 << 20)  # over the 3 MB limit of this app
        response = client.upload(files=[("files", ("big.nii.gz", payload, "application/gzip"))])
        assert response.status_code == 413 and response.headers["content-type"].startswith("text/html")
        assert "<h1>Upload too large</h1>" in response.text and "limit of 3 MB" in response.text  # a page of the app
        with app.state.sessions() as db:
            assert db.scalar(select(Analysis)) is None
        assert not any(p.is_file() for p in (tmp_path / "data" / "analyses").rglob("*"))


def _zip(entries: dict, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "archive, status, words",
    [
        (lambda: _zip({"bomb.dcm": b"\0" * (40 << 20)}), 413, "compress"),
        (lambda: _zip({"../../evil.dcm": b"DICM"}), 400, "path"),
        (lambda: _zip({"a.dcm": b"x"}, symlink="link.dcm"), 400, "link"),
    ],
)
def test_hostile_zips_are_refused_before_extraction(app, tmp_path, archive, status, words):
    with WebClient(app) as client:
        client.register("zip@example.org")
        client.login("zip@example.org")
        response = client.upload(files=[("files", ("study.zip", archive(), "application/zip"))])
        assert response.status_code == status and words in response.text.lower(), response.text[-600:]
        assert not any(p.is_file() for p in (tmp_path / "data" / "analyses").rglob("*"))
        assert not (tmp_path / "evil.dcm").exists() and client.get("/healthz").status_code == 200


@pytest.mark.parametrize("allowed", [False, True])
def test_administrator_sees_other_users_images_only_when_the_site_allows(tmp_path, allowed):
    app = create_app(Settings(data_dir=tmp_path / "data", workers=1, secret_key="s", admin_sees_images=allowed))
    with WebClient(app) as admin, WebClient(app) as user:
        admin.register("admin@example.org")  # the first account is the administrator
        admin.login("admin@example.org")
        user.register("user@example.org")
        user.login("user@example.org")
        url = user.upload(sorted(shared("ct-lung-kmader", "images").iterdir())[4]).headers["location"]
        user.wait(url)
        assert admin.get("/admin").status_code == 200 and user.get("/admin").status_code == 404
        assert "user@example.org" in admin.get("/admin").text
        assert admin.get(url).status_code == (200 if allowed else 404)
        assert admin.get(f"{url}/slice.png").status_code == (200 if allowed else 404)
        assert admin.post(f"{url}/delete").status_code == 404  # never deletes someone else's analysis


def test_large_bodies_are_refused_before_they_are_read(app):
    """Only the upload routes take large bodies, and only with a credential (found by review: FastAPI
    reads a form before the CSRF and login checks run)."""
    with WebClient(app) as client:
        client.get("/login")
        big_form = {"email": "x@y.org", "password": "p" * (300 << 10)}
        assert client.post("/login", big_form).status_code == 413
        anonymous = client.http.post(
            "/analyses", files=[("files", ("a.nii.gz", b"\0" * (1 << 20), "x"))], headers={"origin": BASE}
        )
        assert anonymous.status_code == 401 and 'href="/login"' in anonymous.text  # a page with the way on
        api = client.http.post("/api/v1/analyses", files=[("files", ("a.nii.gz", b"\0" * (1 << 20), "x"))])
        assert api.status_code == 401


def test_password_change_revokes_access_tokens(app):
    with WebClient(app) as client:
        client.register("tokens@example.org")
        client.login("tokens@example.org")
        page = client.post("/account/tokens", {"name": "script"}).text
        token = page.split('id="new-token">')[1].split("<")[0]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.http.get("/api/v1/analyses", headers=headers).status_code == 200
        client.get("/account")
        changed = client.post("/account/password", {"current": PASSWORD, "new": "another long passphrase"})
        assert changed.status_code == 303 and changed.headers["location"] == "/account?changed=1"
        assert client.http.get("/api/v1/analyses", headers=headers).status_code == 401
        page = client.get("/account?changed=1").text  # the page says so
        assert 'id="password-changed"' in page and "API tokens were revoked" in page
        assert 'id="password-changed"' not in client.get("/account").text


def test_dicom_is_recognised_by_content_and_deflated_dicom_is_refused(app, tmp_path):
    import pydicom

    source = sorted(shared("ct-volume-popi", "dicom").iterdir())[30]
    dataset = pydicom.dcmread(source)
    for tag in [tag for tag in dataset.keys() if tag.is_private]:  # POPI's private (01F1,1026) is malformed
        del dataset[tag]
    dataset.PatientName = "Doe^Jane"
    disguised = io.BytesIO()
    dataset.save_as(disguised)
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    deflated = io.BytesIO()
    dataset.save_as(deflated, enforce_file_format=True)
    with WebClient(app) as client:
        client.register("content@example.org")
        client.login("content@example.org")
        refused = client.upload(files=[("files", ("slice.dcm", deflated.getvalue(), "application/dicom"))])
        assert refused.status_code == 415 and "deflated" in refused.text
        renamed = client.upload(files=[("files", ("scan.mha", disguised.getvalue(), "application/octet-stream"))])
        assert renamed.status_code in (303, 422), renamed.text[-500:]  # read as DICOM, never as a MetaImage
    for path in (tmp_path / "data" / "analyses").rglob("*"):
        assert not path.is_file() or b"Doe^Jane" not in path.read_bytes()


def test_a_zip_directory_with_too_many_entries_is_refused_before_parsing(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s", max_upload_files=10))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(50):
            archive.writestr(f"dir{index}/", b"")
    with WebClient(app) as client:
        client.register("dirs@example.org")
        client.login("dirs@example.org")
        response = client.upload(files=[("files", ("many.zip", buffer.getvalue(), "application/zip"))])
        assert response.status_code == 413 and "50 entries" in response.text


def test_reports_name_no_server_paths_and_api_docs_work_offline(app, owner_and_analysis, tmp_path):
    owner, analysis_id, _ = owner_and_analysis
    report = owner.get(f"/analyses/{analysis_id}/files/report")
    assert str(tmp_path) not in report.text and report.json()["input"]["path"] == "upload"
    assert all("/" not in name for name in report.json()["outputs"])
    docs = owner.get("/api/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text and owner.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_an_uploaded_header_cannot_read_a_server_file(app, tmp_path):
    """The review's proof: a MetaImage header whose data file is a server file (here the service's own
    database) is refused before anything is read, and the answer carries none of its bytes."""
    secret = tmp_path / "data" / "lungseg.db"
    assert secret.is_file()
    key = secret.read_bytes()[:2].decode("latin-1")  # "SQ": what a 1-voxel read would have shown as a value
    header = (
        f"ObjectType = Image\nNDims = 3\nDimSize = 2 1 1\nElementType = MET_SHORT\nElementDataFile = {secret}\n"
    ).encode()
    with WebClient(app) as client:
        client.register("probe@example.org")
        client.login("probe@example.org")
        response = client.upload(files=[("files", ("probe.mha", header, "application/octet-stream"))])
        assert response.status_code in (400, 415, 422) and "detached" in response.text
        assert str(secret) not in response.text and "range" not in response.text
        assert str(int.from_bytes(key.encode("latin-1"), "little", signed=True)) not in response.text
