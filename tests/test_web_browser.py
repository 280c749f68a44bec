"""End-to-end browser test of the web service: a real ``lungseg serve`` process, Debian's Chromium driven by
pytest-playwright (WebGL through SwiftShader, so NiiVue renders headless), and the real POPI DICOM series.

Register, log in, upload the series as a zip, wait for the job, check the NiiVue viewer draws and reacts to
its controls, the measurements and disclaimer, the NIfTI and DICOM-SEG downloads, history, delete, log out.

Screenshots go to $LUNGSEG_SCREENSHOTS (default /tmp/lungseg-screenshots/); run with ``-s`` to see their
paths. Needs ``chromium`` (``make system-deps``) and ``pytest-playwright`` (the ``test`` extra); no
``playwright install`` download is used.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import shared
from services import free_port

pytest.importorskip("pytest_playwright", reason="pip install pytest-playwright (the test extra)")
from PIL import Image  # noqa: E402
from playwright.sync_api import Locator, Page, expect  # noqa: E402

CHROMIUM_ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--ignore-gpu-blocklist"]
PASSWORD = "lung volumes 2026"
EMAIL = "browser.test@example.org"
JOB_TIMEOUT_MS = 180_000
SERVER_START_S = 90.0
MIN_STD = 8.0  # a canvas showing a CT is far from uniform (0..255 grey levels)
MIN_CHANGE = 0.5  # mean absolute pixel difference that counts as "the picture changed"


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found:
        pytest.fail("chromium not found: run `make system-deps` (Debian's chromium package)")
    return found


# --- pytest-playwright configuration: Debian's Chromium, SwiftShader WebGL ------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": _chromium(),
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, server):
    return {
        **browser_context_args,
        "base_url": server,
        "viewport": {"width": 1280, "height": 900},
        "accept_downloads": True,
    }


# --- the real server ------------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> str:
    """``python -m lungseg serve`` on a free port with a throw-away data dir; yields its base URL."""
    root = tmp_path_factory.mktemp("browser-server")
    port = free_port()
    log = root / "server.log"
    env = {**os.environ, "LUNGSEG_SECRET_KEY": "test"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lungseg",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(root / "data"),
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"lungseg serve exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"lungseg serve did not answer /healthz in {SERVER_START_S:.0f} s:\n{_tail(log)}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if os.environ.get("LUNGSEG_SHOW_SERVER_LOG"):
            print(f"\n--- server log ---\n{_tail(log, 200)}")


@pytest.fixture(scope="session")
def popi_zip(tmp_path_factory) -> Path:
    """The real POPI DICOM series (71 slices) as a zip of its folder, as a user would upload it."""
    dicom = shared("ct-volume-popi", "dicom")
    path = tmp_path_factory.mktemp("upload") / "popi-dicom.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(dicom.iterdir()):
            archive.write(file, f"popi/{file.name}")
    return path


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("LUNGSEG_SCREENSHOTS", "/tmp/lungseg-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- helpers --------------------------------------------------------------------------------------------


def _pixels(locator: Locator, save: Path | None = None) -> np.ndarray:
    """The element as the compositor shows it (works whatever the WebGL preserveDrawingBuffer setting)."""
    png = locator.screenshot()
    if save is not None:
        save.write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


def _changed(page: Page, canvas: Locator, before: np.ndarray, what: str, timeout_s: float = 30.0) -> np.ndarray:
    """Wait until the canvas differs from ``before``; fail with the difference seen if it never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        after = _pixels(canvas)
        diff = float(np.abs(after - before).mean()) if after.shape == before.shape else float("inf")
        if diff > MIN_CHANGE:
            assert after.std() > MIN_STD, f"canvas blank after {what} (std {after.std():.2f})"
            print(f"canvas change after {what}: mean |diff| {diff:.2f}, std {after.std():.1f}")
            return after
        if time.monotonic() > deadline:
            pytest.fail(f"canvas did not change after {what} (mean |diff| {diff:.3f} <= {MIN_CHANGE})")
        page.wait_for_timeout(250)


def _viewer_settled(page: Page, timeout_ms: float = 90_000) -> None:
    """Wait until the viewer has finished loading (NiiVue ready or error, or the PNG fallback)."""
    page.wait_for_function(
        "() => { const v = document.querySelector('section.lungseg-viewer');"
        " return v && (v.dataset.state !== 'loading' || v.dataset.renderer === 'png'); }",
        timeout=timeout_ms,
    )


def _row_volume(page: Page, structure: str) -> str:
    row = page.locator("#measurements tbody tr", has=page.locator("td", has_text=re.compile(f"^{structure}$")))
    expect(row).to_have_count(1)
    return row.locator("td").nth(1).inner_text().strip()


# pytest-base-url (pulled in by pytest-playwright) defines a session fixture as a method: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods")


# --- the flow -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_browser_end_to_end(page: Page, popi_zip: Path, screenshots: Path, tmp_path: Path):
    page_errors: list[str] = []
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            console_errors.append(f"{msg.text} [{msg.location.get('url', '')}]") if msg.type == "error" else None
        ),
    )
    bad_responses: list[str] = []
    page.on(
        "response",
        lambda r: bad_responses.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None,
    )

    # 1. register, then log in
    page.goto("/")
    page.locator("header.site nav").get_by_role("link", name="Register").click()
    expect(page).to_have_url(re.compile(r"/register$"))
    page.fill('input[name="full_name"]', "Browser Test")
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.fill('input[name="age"]', "58")
    page.select_option('select[name="gender"]', "female")
    page.fill('input[name="mobile"]', "+44 20 7946 0123")
    page.screenshot(path=str(screenshots / "register.png"), full_page=True)
    page.locator("main form.form button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text("Registration received")
    expect(page.locator('input[name="email"]')).to_have_value(EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.locator("main form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/analyses$"))
    expect(page.locator("#logout")).to_be_visible()

    # 2. upload the POPI series as a zip
    page.get_by_role("link", name="New analysis").click()
    expect(page).to_have_url(re.compile(r"/analyses/new$"))
    expect(page.locator("#upload-limit")).to_contain_text("MB")
    # a chest X-ray sent to the CT model: the reason appears above the form (the upload script), no new page
    page.set_input_files("#files", str(shared("xray-lung-montgomery", "images", "1.jpg")))
    page.select_option("#model", "ct-lung")
    page.click("#upload")
    expect(page.locator("#upload-errors")).to_contain_text("radiograph", timeout=60_000)
    expect(page.locator("#upload-errors")).to_contain_text('choose the model "xray-lung"')
    expect(page).to_have_url(re.compile(r"/analyses/new$"))
    page.set_input_files("#files", str(popi_zip))
    page.select_option("#model", "ct-lung")
    page.click("#upload")
    expect(page).to_have_url(re.compile(r"/analyses/(?!new$)[^/]+$"), timeout=60_000)
    assert not page.locator(".errors").is_visible(), page.locator(".errors").inner_text()
    result_url = page.url

    # 3. wait for the job (the page polls #job and reloads when it ends)
    started = time.monotonic()
    page.locator("#measurements, #job-error").first.wait_for(state="visible", timeout=JOB_TIMEOUT_MS)
    if page.locator("#job-error").count():
        pytest.fail(f"job failed: {page.locator('#job-error').inner_text()}")
    print(f"job finished {time.monotonic() - started:.0f} s after upload")

    # 4. the viewer opens in 2D at once (server-drawn slices), with the slice and the HU under the cursor
    viewer = page.locator("section.lungseg-viewer")
    shown = time.monotonic()
    expect(viewer).to_have_attribute("data-fallback-reason", "2d-first", timeout=15_000)
    expect(viewer).to_have_attribute("data-first-image", re.compile(r"^\d+$"), timeout=15_000)
    first_image = int(viewer.get_attribute("data-first-image"))
    print(f"2D view: first slice image {first_image} ms after the viewer script started")
    expect(viewer).to_have_attribute("data-state", "ready")
    expect(page.locator("#lv-slice-image")).to_be_visible()
    page.screenshot(path=str(screenshots / "result-2d-first.png"), full_page=True)
    box = page.locator("#lv-slice-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)  # the right lung
    readout = re.compile(r"Slice \d+ of 71 · -?\d+(\.\d)? HU \(right lung\) under the cursor")
    expect(page.locator("[data-lv-readout]")).to_have_text(readout, timeout=10_000)
    print(f"2D readout: {page.locator('[data-lv-readout]').inner_text()!r}")

    # 5. the NiiVue viewer, on request
    page.click("#lv-open-3d")
    shown = time.monotonic()
    _viewer_settled(page)
    print(f"3D viewer settled {time.monotonic() - shown:.1f} s after 'Open 3D viewer'")
    renderer = viewer.get_attribute("data-renderer")
    if renderer != "niivue":
        pytest.fail(
            f"viewer fell back to {renderer!r}: data-fallback-reason="
            f"{viewer.get_attribute('data-fallback-reason')!r}; console errors: {console_errors}"
        )
    expect(viewer).to_have_attribute("data-state", "ready")
    expect(viewer).to_have_attribute("data-plane", "axial")
    expect(viewer).to_have_attribute("data-window", "lung")
    expect(viewer).to_have_attribute("data-opacity", "0.50")
    canvas = page.locator("#lv-canvas")
    expect(canvas).to_be_visible()

    deadline = time.monotonic() + 20
    while (axial := _pixels(canvas)).std() <= MIN_STD:  # the first frame may still be the empty background
        if time.monotonic() > deadline:
            pytest.fail(f"the NiiVue canvas stays blank (pixel std {axial.std():.2f})")
        page.wait_for_timeout(250)
    print(f"axial canvas: std {axial.std():.1f}, mean {axial.mean():.1f}")
    _pixels(canvas, screenshots / "canvas-axial.png")
    loaded = screenshots / "result-loaded.png"
    page.screenshot(path=str(loaded), full_page=True)

    page.click("#lv-view-coronal")
    expect(viewer).to_have_attribute("data-plane", "coronal")
    expect(page.locator("#lv-view-coronal")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#lv-view-axial")).to_have_attribute("aria-pressed", "false")
    coronal = _changed(page, canvas, axial, "clicking #lv-view-coronal")
    _pixels(canvas, screenshots / "canvas-coronal.png")

    page.locator("#lv-opacity").evaluate(
        "(el) => { el.value = '0.1'; el.dispatchEvent(new Event('input', {bubbles: true}));"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    expect(viewer).to_have_attribute("data-opacity", "0.10")
    expect(page.locator("#lv-opacity-value")).to_have_text("10%")
    faint = _changed(page, canvas, coronal, "setting #lv-opacity to 0.1")
    _pixels(canvas, screenshots / "canvas-coronal-opacity10.png")

    page.click("#lv-window-mediastinum")
    expect(viewer).to_have_attribute("data-window", "mediastinum")
    expect(viewer).to_have_attribute("data-cal-min", "-135")
    expect(viewer).to_have_attribute("data-cal-max", "215")
    expect(page.locator("#lv-window-mediastinum")).to_have_attribute("aria-pressed", "true")
    _changed(page, canvas, faint, "clicking #lv-window-mediastinum")
    _pixels(canvas, screenshots / "canvas-coronal-mediastinum.png")
    expect(viewer).to_have_attribute("data-state", "ready")
    mediastinum = screenshots / "result-coronal-mediastinum.png"
    page.screenshot(path=str(mediastinum), full_page=True)

    # 5. volumes and disclaimer
    expect(page.locator("#measurements")).to_contain_text("right lung")
    assert _row_volume(page, "right lung") == "3003.4"
    assert _row_volume(page, "left lung") == "2434.2"
    expect(page.locator("p.disclaimer.banner")).to_contain_text("Screening support only")
    expect(page.locator("footer .disclaimer")).to_contain_text("Screening support only")

    # 6. downloads
    with page.expect_download() as info:
        page.locator("#downloads").get_by_role("link", name="Label map (NIfTI)", exact=True).click()
    nifti = tmp_path / info.value.suggested_filename
    info.value.save_as(nifti)
    data = nifti.read_bytes()
    assert len(data) > 1000 and data[:2] == b"\x1f\x8b", (nifti.name, data[:4])
    with page.expect_download() as info:
        page.locator("#downloads").get_by_role("link", name="DICOM SEG", exact=True).click()
    seg = tmp_path / info.value.suggested_filename
    info.value.save_as(seg)
    data = seg.read_bytes()
    assert len(data) > 1000 and data[128:132] == b"DICM", (seg.name, data[128:132])

    # 7. history, reopen, delete, log out
    page.locator("header.site nav").get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(r"/analyses$"))
    row = page.locator("#history tbody tr", has_text=popi_zip.name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("3003.4")
    expect(row).to_contain_text("done")
    page.screenshot(path=str(screenshots / "history.png"), full_page=True)
    row.get_by_role("link", name=popi_zip.name).click()
    expect(page).to_have_url(result_url)
    expect(page.locator("#measurements")).to_be_visible()
    expect(page.locator("section.lungseg-viewer")).to_have_attribute("data-renderer", "png")  # 2D first again
    _viewer_settled(page)
    page.click("#delete")  # asks first
    expect(page.locator("h1")).to_have_text("Delete this analysis?")
    page.screenshot(path=str(screenshots / "confirm-delete.png"), full_page=True)
    page.click("#confirm-delete")
    expect(page).to_have_url(re.compile(r"/analyses$"))
    expect(page.locator("main")).to_contain_text("No analyses yet")
    expect(page.locator("#history")).to_have_count(0)
    page.click("#logout")
    expect(page.locator("#logout")).to_have_count(0)
    page.goto("/analyses")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))

    # 8. report
    print(f"screenshots: {loaded}  {mediastinum}  (and canvas-*.png in {screenshots})")
    if console_errors or bad_responses:
        print("browser console errors / failed requests:", *console_errors, *bad_responses, sep="\n  ")
    assert not page_errors, f"uncaught errors in the page: {page_errors}"
