"""A browser-like test client for the web app: keeps cookies, sends this site's Origin, and reads the
CSRF token from each page it opens (as a browser submitting the page's own form would)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from fastapi.testclient import TestClient

BASE = "http://testserver"
PASSWORD = "lung volumes 2026"


class WebClient:
    def __init__(self, app):
        self.http = TestClient(app, base_url=BASE)
        self.token = ""

    def __enter__(self):
        self.http.__enter__()
        return self

    def __exit__(self, *exc):
        self.http.__exit__(*exc)

    def get(self, path: str, **kwargs):
        response = self.http.get(path, **kwargs)
        found = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
        if found:
            self.token = found.group(1)
        return response

    def post(
        self,
        path: str,
        data: dict | None = None,
        files=None,
        token: str | None = None,
        origin: str | None = BASE,
        follow: bool = False,
    ):
        headers = {"origin": origin} if origin else {}
        data = {"csrf_token": self.token if token is None else token, **(data or {})}
        return self.http.post(path, data=data, files=files, headers=headers, follow_redirects=follow)

    def register(self, email: str, password: str = PASSWORD, **fields):
        self.get("/register")
        values = {
            "full_name": "Test User",
            "email": email,
            "password": password,
            "age": "50",
            "gender": "female",
            "mobile": "+44 20 7946 0000",
            **fields,
        }
        return self.post("/register", values)

    def login(self, email: str, password: str = PASSWORD):
        self.get("/login")
        response = self.post("/login", {"email": email, "password": password})
        self.get("/analyses/new")  # the signed-in session's CSRF token
        return response

    def upload(self, *paths: Path, model: str = "ct-lung", files=None, label: str = ""):
        self.get("/analyses/new")
        files = files or [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
        return self.post("/analyses", {"model": model, "study_label": label}, files=files)

    def wait(self, analysis_url: str, timeout: float = 300) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.http.get(f"{analysis_url}/status").json()
            if status["state"] in ("done", "failed"):
                return status
            time.sleep(0.3)
        raise AssertionError(f"{analysis_url} did not finish in {timeout} s: {status}")
