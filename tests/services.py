"""Session fixtures that run real MariaDB and Redis servers for the tests.

Each fixture starts a private, throw-away server on a free 127.0.0.1 port in a
temporary directory, as the current user, and stops it and deletes the
directory afterwards. The binaries come from Debian (`make system-deps`).

The same servers are available outside pytest as context managers,
`mariadb_server()` and `redis_server()` (used by `benchmarks/web_load.py`);
they raise `ServiceError` (a RuntimeError) where the fixtures fail the test.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
START_TIMEOUT_S = 60.0


class ServiceError(RuntimeError):
    """A server could not be found, set up or started."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(*names: str) -> str:
    """Path of the first of `names` found (also in /usr/sbin), else raise ServiceError."""
    for name in names:
        if found := shutil.which(name, path=SEARCH_PATH):
            return found
    raise ServiceError(f"{' / '.join(names)} not found: run `make test` (or `make system-deps`) to install it")


def _tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_ready(proc: subprocess.Popen, ready: Callable[[], bool], what: str, log: Path) -> None:
    """Poll `ready()` until it is true; raise ServiceError with the log tail on exit or timeout."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting; log {log}:\n{_tail(log)}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - any error just means "not up yet"
            pass
        time.sleep(0.2)
    _stop(proc)
    raise ServiceError(f"{what} did not accept connections within {START_TIMEOUT_S:.0f} s; log {log}:\n{_tail(log)}")


def _stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Terminate a server (SIGTERM is a clean shutdown for both), kill if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def mariadb_server(database: str = "lungseg_test") -> Iterator[str]:
    """SQLAlchemy URL of a private MariaDB with database `database` and user `lungseg`.

    Listens on 127.0.0.1:<free port> and on a socket `mysql.sock` in its data dir.
    """
    import pymysql

    if not database.isidentifier():
        raise ValueError(f"not a plain database name: {database!r}")

    server = _binary("mariadbd", "mysqld")
    install_db = _binary("mariadb-install-db", "mysql_install_db")
    tmp = Path(tempfile.mkdtemp(prefix="lungseg-mariadb-"))
    datadir, sock, log = tmp / "data", tmp / "mysql.sock", tmp / "error.log"
    port, password, user = free_port(), secrets.token_urlsafe(16), getpass.getuser()
    try:
        init = subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--user={user}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            output = f"{init.stdout[-2000:]}\n{init.stderr[-2000:]}"
            raise ServiceError(f"{install_db} failed ({init.returncode}):\n{output}")
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    server,
                    "--no-defaults",
                    f"--datadir={datadir}",
                    f"--socket={sock}",
                    f"--port={port}",
                    "--bind-address=127.0.0.1",
                    f"--pid-file={tmp / 'mariadb.pid'}",
                    f"--log-error={log}",
                    f"--tmpdir={tmp}",
                    f"--user={user}",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=32M",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def root() -> pymysql.Connection:
            return pymysql.connect(unix_socket=str(sock), user="root", password="", autocommit=True)

        try:
            _wait_until_ready(proc, lambda: root().close() is None, f"MariaDB ({server})", log)
            with root() as conn, conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(f"CREATE USER 'lungseg'@'{host}' IDENTIFIED BY %s", (password,))
                    cur.execute(f"GRANT ALL PRIVILEGES ON {database}.* TO 'lungseg'@'{host}'")
            yield f"mysql+pymysql://lungseg:{password}@127.0.0.1:{port}/{database}?charset=utf8mb4"
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """URL `redis://127.0.0.1:<port>/0` of a private Redis without persistence."""
    import redis

    server = _binary("redis-server")
    tmp = Path(tempfile.mkdtemp(prefix="lungseg-redis-"))
    port, log = free_port(), tmp / "redis.log"
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmp),
                    "--daemonize",
                    "no",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_ready(proc, lambda: redis.Redis.from_url(url, socket_timeout=1).ping(), "Redis", log)
            yield url
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _failing_the_test() -> Iterator[None]:
    """Turn a ServiceError while a server starts or stops into a pytest failure, as before."""
    try:
        yield
    except ServiceError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """SQLAlchemy URL of a private MariaDB with database `lungseg_test` and user `lungseg`."""
    with _failing_the_test(), mariadb_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL `redis://127.0.0.1:<port>/0` of a private Redis without persistence."""
    with _failing_the_test(), redis_server() as url:
        yield url
