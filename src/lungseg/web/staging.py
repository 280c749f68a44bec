"""The staging area, where raw uploads are written, unpacked, de-identified and screened before anything
reaches a user's folder (``DATA_DIR/staging``, beside ``analyses``).

Each upload works in a folder of its own, ``staging/<random>``, whose lock file ``staging/<random>.lock``
the process holds (``flock``) for as long as it handles the upload. Raw files, with patient names and
birth dates, exist only there: the service moves the folder's content into
``analyses/<user>/<analysis>/`` only once it is de-identified and accepted. A process killed mid-upload
(``kill -9``, power loss) leaves its folder behind with the lock released by the kernel; ``sweep``, run
at every start, removes every folder whose lock nobody holds, so no raw file outlives a restart, and
never the folders of another server process that shares the data folder and is still staging.

Bytes: all uploads staged at once by one process hold at most ``max_bytes`` on disk together
(``LUNGSEG_MAX_STAGING_MB``); the chunk that would go over it refuses its upload with 503.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
from pathlib import Path

from lungseg.web.upload_rules import UploadRefused, format_size

if sys.platform == "win32":  # no flock; the start-up sweep then assumes one server process
    fcntl = None
else:
    import fcntl

LOCK_SUFFIX = ".lock"


class StagingArea:
    """The staging folder of one data folder, with the byte quota shared by this process's uploads."""

    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = Path(root), max_bytes
        self.used = 0
        self._lock = threading.Lock()

    def claim(self) -> Staging:
        """A new, locked, empty folder for one upload; use it as a context manager (removed at exit)."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            name = secrets.token_hex(8)
            lock_path = self.root / f"{name}{LOCK_SUFFIX}"
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            if _locked(descriptor) and _same_file(descriptor, lock_path):
                break
            os.close(descriptor)  # a sweep removed it between create and lock: take another name
        path = self.root / name
        path.mkdir(mode=0o700)
        return Staging(self, path, lock_path, descriptor)

    def sweep(self) -> int:
        """Remove every staging folder no live process holds (left by a crash); returns how many."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in sorted(self.root.iterdir()):
            if entry.name.endswith(LOCK_SUFFIX):
                removed += self._sweep_locked(entry)
            elif not entry.with_name(entry.name + LOCK_SUFFIX).exists():  # its lock file goes last
                _remove(entry)
                removed += 1
        return removed

    def _sweep_locked(self, lock_path: Path) -> int:
        try:
            descriptor = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            if not _locked(descriptor):
                return 0  # a live upload
            folder = lock_path.with_name(lock_path.name.removesuffix(LOCK_SUFFIX))
            _remove(folder)
            lock_path.unlink(missing_ok=True)
            return 1
        finally:
            os.close(descriptor)

    def _take(self, size: int) -> None:
        with self._lock:
            if self.used + size > self.max_bytes:
                raise UploadRefused(
                    "the server is busy with other uploads (more than "
                    f"{format_size(self.max_bytes)} being checked at once); try again in a few minutes",
                    503,
                )
            self.used += size

    def _give_back(self, size: int) -> None:
        with self._lock:
            self.used -= size


class Staging:
    """One upload's folder (``path``), locked until ``close``, which removes it and gives its bytes back."""

    def __init__(self, area: StagingArea, path: Path, lock_path: Path, descriptor: int):
        self.area, self.path, self._lock_path, self._descriptor = area, path, lock_path, descriptor
        self.taken = 0

    def take(self, size: int) -> None:
        """Count ``size`` more bytes on disk against the area's quota (``UploadRefused`` 503 beyond it)."""
        self.area._take(size)
        self.taken += size

    def close(self) -> None:
        if self._descriptor < 0:
            return
        _remove(self.path)
        self._lock_path.unlink(missing_ok=True)  # after the folder: a folder without a lock file is an orphan
        os.close(self._descriptor)
        self._descriptor = -1
        self.area._give_back(self.taken)
        self.taken = 0

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _locked(descriptor: int) -> bool:
    """Take the exclusive lock without waiting; False when another process (or descriptor) holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
