"""The web service under load: many users at once register, sign in, upload a CT slice and wait for it,
while the pages they look at are timed; then the CLI on the same slices for comparison.

    .venv/bin/pip install -e '.[test]'   # httpx, pytest (tests/services.py), PyMySQL, redis, Celery
    # SQLite + inline job threads in the server (the default set-up):
    .venv/bin/python benchmarks/web_load.py [--users 50] [--workers 2] [--json benchmarks/results/web_load.json]
    # MariaDB + Celery workers on Redis (mariadbd and redis-server from `make system-deps`):
    .venv/bin/python benchmarks/web_load.py --database mariadb --jobs celery [--users 50] [--workers 2] \
        [--json benchmarks/results/web_load-mariadb-celery.json]

The script starts ``lungseg serve`` itself on a free port with a fresh temporary data directory
(``LUNGSEG_THREADS_PER_JOB`` = --threads-per-job, and ``LUNGSEG_LOGIN_RATE`` raised to 10000/15 minutes,
since every simulated user comes from 127.0.0.1 and the default limit is 20 per address). --database sqlite
(default) is the SQLite file in that directory; --database mariadb starts a private MariaDB server
(``mariadb_server()`` of tests/services.py, database ``lungseg``) and sets ``LUNGSEG_DATABASE_URL``.
--jobs inline (default) runs --workers job threads in the server (``LUNGSEG_WORKERS``); --jobs celery starts
a private Redis (``redis_server()``), runs the server with ``LUNGSEG_JOBS=celery``, ``LUNGSEG_WORKERS=0`` and
``LUNGSEG_BROKER_URL``, and --workers processes ``celery -A lungseg.web.worker worker --pool=solo`` (one job
at a time each) with the same settings; the load starts once every worker answers a ping. Every process
started (server, workers, MariaDB, Redis) is stopped on exit, also after an error, Ctrl-C or SIGTERM.
Each user has its own ``httpx.AsyncClient`` (cookies) and, at the same time as the others: opens /register
and registers, signs in, uploads one kmader slice (round robin over ``--images``), then polls
``/analyses/{id}/status`` every --poll seconds until done or failed while also fetching its history, its
result page and the home page every --page-interval seconds (each request timed).

Reported: web jobs/minute (first upload sent -> last job finished, from the jobs table, read through
SQLAlchemy; MariaDB keeps whole seconds there), the CLI's rate on the same slices (``lungseg predict FOLDER
OUT --model ct-lung``, one batch process, run after the server, workers and databases have stopped), page
latency p50/p95/max over requests sent while at least one job was queued or running, upload request latency
(the upload screens the input with the model synchronously), and counts: jobs done, failed, lost (uploaded,
never finished), HTTP 5xx, other 4xx. The server's and the workers' output is kept in one temporary log file
and searched for tracebacks, 5xx and "database is locked". Exit status 1 when a job was lost, a 5xx was
answered, a user could not get as far as an upload, or the log shows errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy

REPO = Path(__file__).resolve().parents[1]
IMAGES = Path("../shared/data/ct-lung-kmader/images")  # relative to the repository root
PYTHON = REPO / ".venv" / "bin" / "python"
PASSWORD = "lung volumes 2026"
LOGIN_RATE = "10000/15 minutes"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
LOG_PROBLEMS = re.compile(r"Traceback|[Dd]atabase is locked|OperationalError|Exception|ERROR|CRITICAL|\" 5\d\d ")


@dataclass
class Request:
    kind: str  # register, login, upload, status, history, result, home, form
    start: float  # time.time() when sent
    seconds: float
    status: int  # HTTP status, 0 for a transport error
    error: str = ""


@dataclass
class User:
    index: int
    image: Path
    requests: list[Request] = field(default_factory=list)
    analysis: str | None = None
    state: str | None = None  # last state seen: queued, running, done, failed
    done_seen: float | None = None  # time.time() of the status answer that said done/failed
    problem: str = ""  # why this user stopped before uploading


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class Server:
    """``lungseg serve`` in a subprocess and, with Celery jobs, ``workers`` Celery worker processes (solo pool,
    one job at a time each). Their stdout/stderr go to one log file, each line prefixed with the seconds since
    the server was started (uvicorn's own lines carry no time) and a worker's lines with ``[worker N]``.
    ``database_url`` None is SQLite in the data directory; ``broker_url`` None is inline job threads."""

    def __init__(
        self,
        root: Path,
        workers: int,
        threads_per_job: int,
        database_url: str | None = None,
        broker_url: str | None = None,
    ):
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = root / "data"
        self.log = root / "server.log"
        self.workers = workers
        self.broker_url = broker_url
        self.database_url = database_url or f"sqlite:///{(self.data_dir / 'lungseg.db').resolve()}"
        self.settings = {
            "LUNGSEG_WORKERS": "0" if broker_url else str(workers),  # Celery: no inline threads in the server
            "LUNGSEG_THREADS_PER_JOB": str(threads_per_job),
            "LUNGSEG_JOBS": "celery" if broker_url else "inline",
            "LUNGSEG_LOGIN_RATE": LOGIN_RATE,
            "LUNGSEG_SECRET_KEY": secrets.token_urlsafe(32),
        }
        if database_url:
            self.settings["LUNGSEG_DATABASE_URL"] = database_url
        if broker_url:
            self.settings["LUNGSEG_BROKER_URL"] = broker_url
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.copiers: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.handle = None
        self.started = time.time()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEG_")}  # nothing inherited
        env.update(self.settings, LUNGSEG_DATA_DIR=str(self.data_dir.resolve()))
        self.handle = self.log.open("w")
        self.started = time.time()
        serve = ["-m", "lungseg", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self._spawn("", [*serve, "--data-dir", str(self.data_dir)], env)
        if self.broker_url:
            for index in range(1, self.workers + 1):
                celery = ["-m", "celery", "-A", "lungseg.web.worker", "worker", "--pool=solo", "--concurrency=1"]
                self._spawn(f"[worker {index}] ", [*celery, "--loglevel=WARNING", "-n", f"load{index}@%h"], env)

    def _spawn(self, prefix: str, arguments: list[str], env: dict[str, str]) -> None:
        # cwd is the temporary folder, so no .env from the repository is read
        process = subprocess.Popen(
            [str(PYTHON), *arguments],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.processes.append((prefix.strip() or "the server", process))
        copier = threading.Thread(target=self._copy_log, args=(process, prefix), daemon=True)
        copier.start()
        self.copiers.append(copier)

    def _copy_log(self, process: subprocess.Popen, prefix: str) -> None:
        for line in process.stdout:
            with self.lock:
                self.handle.write(f"{time.time() - self.started:8.2f}  {prefix}{line}")
                self.handle.flush()

    def wait_ready(self, timeout: float = 180) -> float:
        """Seconds until the home page answers and, with Celery, every worker answers a ping."""
        start = time.time()
        celery = None
        try:
            while time.time() - start < timeout:
                for name, process in self.processes:
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail()}")
                try:
                    if celery is None and httpx.get(self.base + "/", timeout=5).status_code == 200:
                        if not self.broker_url:
                            return time.time() - start
                        from celery import Celery

                        celery = Celery("web-load", broker=self.broker_url)
                    if celery is not None and len(celery.control.ping(timeout=1.0)) >= self.workers:
                        return time.time() - start
                except (httpx.TransportError, OSError):  # not up yet (Redis errors are OSErrors too)
                    pass
                time.sleep(0.5)
        finally:
            if celery is not None:
                celery.close()
        raise RuntimeError(f"the server or its workers were not ready in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and the workers (SIGTERM, SIGKILL after 30 s); safe to call again."""
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.time() + 30
        for _, process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for copier in self.copiers:
            copier.join(10)
        if self.handle is not None and not self.handle.closed:
            with self.lock:
                self.handle.close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if LOG_PROBLEMS.search(line)]

    def _rows(self, query: str) -> list:
        """The rows of a query on the service's database (SQLite or MariaDB, through SQLAlchemy)."""
        engine = sqlalchemy.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(sqlalchemy.text(query)))
        finally:
            engine.dispose()

    def failed_jobs(self) -> list[str]:
        rows = self._rows("SELECT id, attempts, error FROM jobs WHERE state = 'failed'")
        return [f"job {row[0]} (attempts {row[1]}): {row[2]}" for row in rows]

    def job_times(self) -> dict[str, tuple[float, float | None, float | None, str]]:
        """analysis id -> (created, started, finished, state) from the jobs table, as Unix times (the
        columns are naive UTC; MariaDB's DATETIME keeps whole seconds)."""

        def unix(value):
            if value is None:
                return None
            return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()

        rows = self._rows("SELECT analysis_id, created_at, started_at, finished_at, state FROM jobs")
        return {row[0]: (unix(row[1]), unix(row[2]), unix(row[3]), row[4]) for row in rows}


class Session:
    """One simulated user's browser: cookies, this site's Origin, the CSRF token of the last page."""

    def __init__(self, base: str, user: User):
        self.user = user
        self.token = ""
        self.http = httpx.AsyncClient(
            base_url=base,
            headers={"origin": base},
            follow_redirects=False,
            timeout=httpx.Timeout(600, connect=30),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )

    async def request(self, kind: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        start, clock = time.time(), time.perf_counter()
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.user.requests.append(Request(kind, start, time.perf_counter() - clock, 0, repr(exc)))
            return None
        self.user.requests.append(Request(kind, start, time.perf_counter() - clock, response.status_code))
        found = TOKEN.search(response.text) if "text/html" in response.headers.get("content-type", "") else None
        if found:
            self.token = found.group(1)
        return response

    async def post(self, kind: str, path: str, data: dict, files=None) -> httpx.Response | None:
        return await self.request(kind, "POST", path, data={"csrf_token": self.token, **data}, files=files)


async def run_user(base: str, user: User, poll: float, page_interval: float, job_timeout: float) -> None:
    session = Session(base, user)
    email = f"load{user.index:04d}@example.org"
    try:
        await session.request("form", "GET", "/register")
        response = await session.post(
            "register",
            "/register",
            {
                "full_name": f"Load User {user.index}",
                "email": email,
                "password": PASSWORD,
                "age": "50",
                "gender": "female",
                "mobile": "+44 20 7946 0000",
            },
        )
        if response is None or response.status_code != 200:
            user.problem = f"register: {response.status_code if response else 'transport error'}"
            return
        await session.request("form", "GET", "/login")
        response = await session.post("login", "/login", {"email": email, "password": PASSWORD})
        if response is None or response.status_code != 303:
            user.problem = f"login: {response.status_code if response else 'transport error'}"
            return
        await session.request("form", "GET", "/analyses/new")  # the signed-in session's CSRF token
        files = [("files", (user.image.name, user.image.read_bytes(), "image/tiff"))]
        response = await session.post("upload", "/analyses", {"model": "ct-lung"}, files=files)
        if response is None or response.status_code != 303:
            user.problem = f"upload: {response.status_code if response else 'transport error'}"
            return
        url = response.headers["location"]
        user.analysis = url.rstrip("/").split("/")[-1]
        finished = asyncio.Event()

        async def watch():
            deadline = time.time() + job_timeout
            while time.time() < deadline:
                answer = await session.request("status", "GET", f"{url}/status")
                if answer is not None and answer.status_code == 200:
                    user.state = answer.json().get("state")
                    if user.state in ("done", "failed"):
                        user.done_seen = time.time()
                        break
                await asyncio.sleep(poll)
            finished.set()

        async def browse():
            pages = [("history", "/analyses"), ("result", url), ("home", "/")]
            turn = 0
            while not finished.is_set():
                kind, path = pages[turn % len(pages)]
                turn += 1
                await session.request(kind, "GET", path)
                try:
                    await asyncio.wait_for(finished.wait(), page_interval)
                except TimeoutError:
                    pass

        await asyncio.gather(watch(), browse())
    finally:
        await session.http.aclose()


def run_cli(images: list[Path], root: Path) -> dict:
    """``lungseg predict`` on a folder holding the same slices, one process, timed wall clock."""
    source, output = root / "cli-in", root / "cli-out"
    source.mkdir()
    for index, image in enumerate(images):
        shutil.copy2(image, source / f"{index:04d}_{image.name}")  # unique names when users > images
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEG_")}
    command = [str(PYTHON), "-m", "lungseg", "predict", str(source), str(output), "--model", "ct-lung"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    outputs = sum(1 for path in output.rglob("*") if path.is_file()) if output.exists() else 0
    return {
        "command": " ".join(["lungseg", "predict", "<folder of the same slices>", "<out>", "--model", "ct-lung"]),
        "returncode": result.returncode,
        "slices": len(images),
        "output_files": outputs,
        "seconds": round(seconds, 2),
        "jobs_per_minute": round(len(images) / seconds * 60, 1),
        "stderr_tail": result.stderr[-2000:] if result.returncode else "",
    }


def summarise(
    users: list[User], jobs: dict, failed_jobs: list[str], args, server: Server, ready_s: float, cli: dict | None
) -> dict:
    uploaded = [u for u in users if u.analysis]
    requests = [r for u in users for r in u.requests]
    # busy windows: job created -> finished from the jobs table; the client's view where the table has none
    windows = []
    for user in uploaded:
        created, _, finished, _ = jobs.get(user.analysis, (None, None, None, None))
        upload = next(r for r in user.requests if r.kind == "upload" and r.status == 303)
        windows.append((created or upload.start + upload.seconds, finished or user.done_seen or float("inf")))

    def busy(moment: float) -> bool:
        return any(start <= moment <= end for start, end in windows)

    page_kinds = ("history", "result", "home")
    pages = [r for r in requests if r.kind in page_kinds and r.status and busy(r.start)]
    page_latency = [r.seconds for r in pages]
    uploads = [r.seconds for r in requests if r.kind == "upload" and r.status == 303]
    states = {u.analysis: jobs.get(u.analysis, (None, None, None, u.state))[3] or u.state for u in uploaded}
    done = sum(1 for u in uploaded if u.state == "done")
    failed = sum(1 for u in uploaded if u.state == "failed")
    lost = [u.analysis for u in uploaded if u.state not in ("done", "failed")]
    first_upload = min((r.start for r in requests if r.kind == "upload"), default=None)
    finished = [u for u in uploaded if u.state in ("done", "failed")]
    ends = [(jobs[u.analysis][2] if u.analysis in jobs else None) or u.done_seen for u in finished]
    span = (max(ends) - first_upload) if ends and first_upload else None
    web_rate = round(done / span * 60, 1) if span else None
    server_5xx = [r for r in requests if r.status >= 500]
    other = [r for r in requests if 400 <= r.status < 500]
    transport = [r for r in requests if r.status == 0]
    run_times = [f - s for c, s, f, _ in jobs.values() if s and f]
    waits = [s - c for c, s, f, _ in jobs.values() if s and c]
    problems = server.log_problems()

    origin = server.started

    def events(rows):
        return [
            {
                "request": r.kind,
                "status": r.status,
                "sent_s": round(r.start - origin, 2),
                "seconds": round(r.seconds, 2),
                **({"error": r.error} if r.error else {}),
            }
            for r in sorted(rows, key=lambda r: r.start)
        ]

    def counts(rows):
        table: dict[str, int] = {}
        for r in rows:
            key = f"{r.kind} {r.status}"
            table[key] = table.get(key, 0) + 1
        return table

    return {
        "settings": {
            "users": args.users,
            "workers": args.workers,
            "threads_per_job": args.threads_per_job,
            "poll_s": args.poll,
            "page_interval_s": args.page_interval,
            "database": args.database,
            "jobs": args.jobs,
            "server_env": {k: _public(k, v) for k, v in server.settings.items() if k != "LUNGSEG_SECRET_KEY"},
            "images": str(args.images),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "code": _git_state(),
        "times": "sent_s and the server log's first column: seconds since the server process was started",
        "server_ready_s": round(ready_s, 1),
        "web": {
            "jobs_done": done,
            "jobs_failed": failed,
            "jobs_lost": len(lost),
            "lost_ids": lost,
            "users_without_upload": [f"user {u.index}: {u.problem}" for u in users if not u.analysis],
            "first_upload_to_last_finish_s": round(span, 2) if span else None,
            "jobs_per_minute": web_rate,
            "job_run_s": {"p50": percentile(run_times, 50), "max": max(run_times, default=None)},
            "job_queue_wait_s": {"p50": percentile(waits, 50), "max": max(waits, default=None)},
            "final_states": {s: list(states.values()).count(s) for s in set(states.values())},
            "failed_jobs": failed_jobs,
        },
        "cli": cli,
        "web_over_cli": round(web_rate / cli["jobs_per_minute"], 2) if cli and web_rate else None,
        "page_latency_busy_ms": {
            "requests": len(pages),
            "p50": ms(percentile(page_latency, 50)),
            "p95": ms(percentile(page_latency, 95)),
            "max": ms(max(page_latency, default=None)),
            "by_page_p95": {k: ms(percentile([r.seconds for r in pages if r.kind == k], 95)) for k in page_kinds},
        },
        "upload_latency_ms": {
            "requests": len(uploads),
            "p50": ms(percentile(uploads, 50)),
            "p95": ms(percentile(uploads, 95)),
            "max": ms(max(uploads, default=None)),
        },
        "http": {
            "requests": len(requests),
            "status_5xx": len(server_5xx),
            "status_5xx_by_kind": counts(server_5xx),
            "status_4xx": len(other),
            "status_4xx_by_kind": counts(other),
            "transport_errors": len(transport),
            "errors": events(server_5xx + transport),
        },
        "server_log_problem_lines": len(problems),
        "server_log_problem_samples": problems[:20],
    }


def print_table(result: dict) -> None:
    web, cli, pages, up, http = (
        result["web"],
        result["cli"],
        result["page_latency_busy_ms"],
        result["upload_latency_ms"],
        result["http"],
    )
    rows = [
        ("database / jobs", f"{result['settings']['database']} / {result['settings']['jobs']}"),
        (
            f"users / {result['settings']['jobs']} workers / threads per job",
            f"{result['settings']['users']} / {result['settings']['workers']}"
            f" / {result['settings']['threads_per_job']}",
        ),
        (
            "web throughput (first upload -> last job finished)",
            f"{web['jobs_per_minute']} jobs/min ({web['jobs_done']} in {web['first_upload_to_last_finish_s']} s)",
        ),
        (
            "CLI throughput (`lungseg predict` batch, same slices)",
            f"{cli['jobs_per_minute']} slices/min ({cli['slices']} in {cli['seconds']} s)" if cli else "not run",
        ),
        ("web / CLI", str(result["web_over_cli"])),
        ("job run time p50 / max (s)", f"{_r(web['job_run_s']['p50'])} / {_r(web['job_run_s']['max'])}"),
        ("queue wait p50 / max (s)", f"{_r(web['job_queue_wait_s']['p50'])} / {_r(web['job_queue_wait_s']['max'])}"),
        (
            f"page latency while busy p50 / p95 / max (ms, {pages['requests']} requests)",
            f"{pages['p50']} / {pages['p95']} / {pages['max']}",
        ),
        (
            "page p95 by page: history / result / home (ms)",
            " / ".join(str(pages["by_page_p95"][k]) for k in ("history", "result", "home")),
        ),
        (f"upload latency p50 / p95 / max (ms, {up['requests']} uploads)", f"{up['p50']} / {up['p95']} / {up['max']}"),
        ("jobs done / failed / lost", f"{web['jobs_done']} / {web['jobs_failed']} / {web['jobs_lost']}"),
        ("users stopped before uploading", str(len(web["users_without_upload"]))),
        (
            f"HTTP 5xx / other 4xx / transport errors ({http['requests']} requests)",
            f"{http['status_5xx']} / {http['status_4xx']} / {http['transport_errors']}",
        ),
        ("server log lines with errors", str(result["server_log_problem_lines"])),
    ]
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def _git_state() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "src_modified": bool(git("status", "--porcelain", "src"))}


def _public(name: str, value: str) -> str:
    """A setting as recorded: the database URL without its password."""
    if name == "LUNGSEG_DATABASE_URL":
        return sqlalchemy.make_url(value).render_as_string(hide_password=True)
    return value


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


async def load(base: str, users: list[User], args) -> None:
    await asyncio.gather(*(run_user(base, u, args.poll, args.page_interval, args.job_timeout) for u in users))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="job workers: inline threads in the server (LUNGSEG_WORKERS), or Celery worker processes",
    )
    parser.add_argument("--database", choices=("sqlite", "mariadb"), default="sqlite")
    parser.add_argument("--jobs", choices=("inline", "celery"), default="inline", help="celery: with Redis")
    parser.add_argument("--threads-per-job", type=int, default=1, help="LUNGSEG_THREADS_PER_JOB")
    parser.add_argument("--images", type=Path, default=IMAGES, help="folder of slices (relative to the repo root)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between status polls")
    parser.add_argument("--page-interval", type=float, default=0.5, help="seconds between page fetches per user")
    parser.add_argument("--job-timeout", type=float, default=1800, help="seconds a job may take after its upload")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI comparison")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "web_load.json"))
    args = parser.parse_args()
    if args.jobs == "celery" and args.workers < 1:
        parser.error("--jobs celery needs --workers 1 or more")
    folder = args.images if args.images.is_absolute() else REPO / args.images
    available = sorted(p for p in folder.iterdir() if p.is_file())
    images = [available[i % len(available)] for i in range(args.users)]
    users = [User(i, image) for i, image in enumerate(images)]
    signal.signal(signal.SIGTERM, _exit_on_signal)  # so that the finally blocks below stop what was started
    root = Path(tempfile.mkdtemp(prefix="lungseg-web-load-"))
    keep = False
    try:
        with contextlib.ExitStack() as stack:  # MariaDB and Redis, stopped last (after the server)
            database_url = broker_url = None
            if args.database == "mariadb" or args.jobs == "celery":
                sys.path.insert(0, str(REPO / "tests"))
                import services as servers  # tests/services.py: private MariaDB / Redis servers

                if args.database == "mariadb":
                    database_url = stack.enter_context(servers.mariadb_server("lungseg"))
                if args.jobs == "celery":
                    broker_url = stack.enter_context(servers.redis_server())
            server = Server(root, args.workers, args.threads_per_job, database_url, broker_url)
            stack.callback(server.stop)
            server.start()
            ready = server.wait_ready()
            print(
                f"server on {server.base} ({args.database}, {args.jobs} jobs, ready in {ready:.1f} s,"
                f" log {server.log}); {args.users} users",
                flush=True,
            )
            started = time.perf_counter()
            asyncio.run(load(server.base, users, args))
            print(f"load finished in {time.perf_counter() - started:.1f} s", flush=True)
            server.stop()  # the CLI runs on an idle machine, and the log is complete
            jobs, failed_jobs = server.job_times(), server.failed_jobs()
        cli = None if args.no_cli else run_cli(images, root)
        result = summarise(users, jobs, failed_jobs, args, server, ready, cli)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
        print_table(result)
        bad = (
            result["web"]["jobs_lost"]
            or result["http"]["status_5xx"]
            or result["web"]["users_without_upload"]
            or result["server_log_problem_lines"]
            or (cli and cli["returncode"])
        )
        if bad:
            keep = True
            print(f"\nPROBLEMS: see {args.json}; server log kept at {server.log}", file=sys.stderr)
            for line in result["server_log_problem_samples"][:10]:
                print(f"  server: {line}", file=sys.stderr)
            return 1
        return 0
    except BaseException:
        keep = True
        print(f"\nserver log kept at {root / 'server.log'}", file=sys.stderr)
        raise
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _exit_on_signal(number, frame) -> None:
    raise SystemExit(128 + number)


if __name__ == "__main__":
    sys.exit(main())
