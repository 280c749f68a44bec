"""Background jobs of the web service: bad input is answered at upload with no job left behind; one
job runs once even when delivered twice; a worker killed with SIGKILL mid-job is recovered by the
lease; the Celery path runs against a real Redis with a separate worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import shared
from lungseg.web.app import create_app
from lungseg.web.models import Analysis, Job
from lungseg.web.settings import Settings
from webclient import WebClient


def _signed_in(app, email: str = "jobs@example.org") -> WebClient:
    client = WebClient(app).__enter__()
    client.register(email)
    client.login(email)
    return client


def _jobs(app) -> list[Job]:
    with app.state.sessions() as db:
        return list(db.scalars(select(Job)))


def _truncated_series(tmp_path: Path) -> list[Path]:
    files = sorted(shared("ct-volume-popi", "dicom").iterdir())[:6]
    broken = tmp_path / "IM0003.dcm"
    broken.write_bytes(files[3].read_bytes()[: files[3].stat().st_size // 2])
    return files[:3] + [broken] + files[4:]


def _text_named_nifti(tmp_path: Path) -> list[Path]:
    path = tmp_path / "scan.nii.gz"
    path.write_text("this is a text file, not a NIfTI volume\n")
    return [path]


def _xray(tmp_path: Path) -> list[Path]:
    return [sorted(shared("xray-lung-montgomery", "images").iterdir())[0]]


@pytest.mark.parametrize(
    "make, words",
    [
        (_truncated_series, "dcm"),
        (_text_named_nifti, "nifti"),
        (lambda tmp: [shared("ct-abdomen-totalseg", "nifti", "example_ct.nii.gz")], "does not cover the chest"),
        (_xray, "8-bit picture"),
    ],
    ids=["truncated-dicom", "text-as-nifti", "abdominal-ct", "chest-xray"],
)
def test_bad_input_is_answered_at_upload_and_leaves_no_job(tmp_path, make, words):
    settings = Settings(data_dir=tmp_path / "data", workers=0, secret_key="s")
    app = create_app(settings)
    client = _signed_in(app)
    try:
        response = client.upload(*make(tmp_path))
        assert response.status_code in (400, 415, 422), response.status_code
        message = response.text.split('<div class="errors" role="alert">')[1].split("</div>")[0]
        assert words.lower() in message.lower() and "Traceback" not in response.text, message
        assert str(tmp_path) not in message  # the server's paths are not shown
        with app.state.sessions() as db:
            assert db.scalar(select(Analysis)) is None and db.scalar(select(Job)) is None
        assert not any(p.is_file() for p in (settings.data_dir / "analyses").rglob("*"))
        assert client.get("/healthz").json() == {"status": "ok"}
    finally:
        client.__exit__(None, None, None)


def test_a_job_delivered_twice_runs_once(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s"))
    client = _signed_in(app)
    try:
        image = sorted(shared("ct-lung-kmader", "images").iterdir())[7]
        url = client.upload(image).headers["location"]
        job_id = _jobs(app)[0].id
        outcomes = []
        threads = [threading.Thread(target=lambda: outcomes.append(app.state.queue.run_job(job_id))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes, key=str) == [None, "done"]
        assert app.state.queue.run_job(job_id) is None  # a late redelivery does nothing either
        job = _jobs(app)[0]
        assert job.state == "done" and job.attempts == 1
        assert client.get(f"{url}/files/report").status_code == 200
    finally:
        client.__exit__(None, None, None)


def _worker(data_dir: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lungseg", "worker", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_job_then_restart_finishes_the_job(tmp_path):
    """The POPI series (about 30 s of work): SIGKILL the worker while it runs, start another; the lease
    (6 s here) expires, the reaper re-queues the job and the new worker finishes it (attempt 2)."""
    lease = {"LUNGSEG_LEASE_SECONDS": "10", "LUNGSEG_SECRET_KEY": "s"}
    settings = Settings(data_dir=tmp_path / "data", workers=0, secret_key="s", lease_seconds=10)
    app = create_app(settings)
    client = _signed_in(app)
    first = second = None
    try:
        url = client.upload(*sorted(shared("ct-volume-popi", "dicom").iterdir())).headers["location"]
        first = _worker(settings.data_dir, lease)
        _wait_for(lambda: _jobs(app)[0].state == "running" and _jobs(app)[0].progress >= 0.15, 120, "the job to run")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert _jobs(app)[0].state == "running"  # the database still says running: the lease decides
        killed_at = time.time()
        second = _worker(settings.data_dir, lease)
        _wait_for(lambda: _jobs(app)[0].state in ("done", "failed"), 240, "the job to end")
        job = _jobs(app)[0]
        assert job.state == "done" and job.attempts == 2, (job.state, job.error)
        assert time.time() - killed_at < 10 + 120
        report = client.get(f"{url}/files/report").json()
        assert report["measurements"]["right_lung"]["volume_ml"] == 3003.4
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(20)
        client.__exit__(None, None, None)


@pytest.mark.slow
def test_celery_worker_with_redis_runs_the_job_once(tmp_path, redis_url):
    env = {
        "LUNGSEG_JOBS": "celery",
        "LUNGSEG_BROKER_URL": redis_url,
        "LUNGSEG_DATA_DIR": str(tmp_path / "data"),
        "LUNGSEG_SECRET_KEY": "s",
    }
    settings = Settings(data_dir=tmp_path / "data", jobs="celery", broker_url=redis_url, secret_key="s")
    app = create_app(settings)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lungseg.web.worker",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=WARNING",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = _signed_in(app)
    try:
        image = sorted(shared("ct-lung-kmader", "images").iterdir())[9]
        url = client.upload(image).headers["location"]
        assert client.wait(url, timeout=180)["state"] == "done"
        job_id = _jobs(app)[0].id
        from lungseg.web.worker import send_job

        send_job(settings, job_id)  # a duplicated delivery
        time.sleep(3)
        job = _jobs(app)[0]
        assert job.state == "done" and job.attempts == 1
        assert client.get(f"{url}/files/report").status_code == 200
    finally:
        worker.terminate()
        worker.wait(30)
        client.__exit__(None, None, None)


@pytest.mark.slow
def test_the_load_benchmark_runs_the_app_on_mariadb_with_celery_workers(tmp_path):
    """The one command that runs the app on MariaDB with Celery + Redis workers (benchmarks/web_load.py
    starts both services, the server and the workers, and stops them): three users' uploads all finish."""
    import json

    out = tmp_path / "load.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "web_load.py"
    command = [sys.executable, str(script), "--users", "3", "--no-cli", "--database", "mariadb", "--jobs", "celery"]
    run = subprocess.run([*command, "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["settings"]["database"] == "mariadb" and result["settings"]["jobs"] == "celery"
    assert result["web"]["jobs_done"] == 3 and result["web"]["jobs_failed"] == 0
