"""The fetch record ``DEST/FETCH.json`` and the check of an archive against it: each archive's URL,
sha256, size and date, recorded by the first fetch and required of every later one."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lungseg.data.fetch_sources import CHUNK_BYTES, Archive
from lungseg.errors import InputError, describe
from lungseg.io import write_text_atomic

RECORD_NAME = "FETCH.json"


@dataclass(frozen=True)
class ArchiveRecord:
    """An archive as used: ``checksum`` is "published", "recorded" (matched FETCH.json) or "new"."""

    file: str
    url: str
    sha256: str
    size: int
    date: str
    checksum: str


def read_record(dest: Path) -> dict | None:
    """The fetch record in ``dest`` (``FETCH.json``), or None when there is none."""
    path = Path(dest) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a fetch record ({describe(exc)}); remove it or choose another folder") from exc
    if not isinstance(record, dict) or not isinstance(record.get("archives"), dict):
        raise InputError(path, "not a fetch record written by lungseg data fetch; choose another folder")
    return record


def write_record(dest: Path, record: dict) -> None:
    write_text_atomic(Path(dest) / RECORD_NAME, json.dumps(record, indent=2) + "\n")


def verify_archive(
    path: Path, shown: str, url: str, archive: Archive, recorded: dict | None, delete_bad: bool, log
) -> ArchiveRecord:
    """Check ``path`` against the recorded (else published) size and sha256; the bad file is deleted
    when ``delete_bad`` (a download, never a user's copy). Returns the archive's record."""
    listed = archive.listed_source(url or shown)
    if recorded is not None:
        sha, size, origin, kind = recorded["sha256"], recorded["size"], f"recorded in {RECORD_NAME}", "recorded"
    elif listed is not None:
        sha, size, origin, kind = listed.sha256, listed.size, f"listed for {listed.url}", "published"
    else:
        sha, size, origin, kind = None, None, "", "new"
    digest, actual = sha256_of(path), path.stat().st_size
    problem = None
    if sha is not None and digest != sha:
        problem = f"sha256 mismatch: expected {sha} ({origin}), got {digest}"
    elif size is not None and actual != size:
        problem = f"size mismatch: expected {size} bytes ({origin}), got {actual}"
    elif not zipfile.is_zipfile(path):
        problem = "not a zip archive (the server may have sent an error page instead)"
    if problem:
        if delete_bad:
            path.unlink()
        raise InputError(path.parent / shown, problem + ("; the bad download was deleted" if delete_bad else ""))
    log(
        f"{shown}: sha256 {digest}, {actual} bytes: "
        + (
            f"matches the checksum {origin}"
            if sha
            else f"no checksum published, recorded in {RECORD_NAME} to verify later fetches"
        )
    )
    return ArchiveRecord(shown, url, digest, actual, datetime.now(UTC).isoformat(timespec="seconds"), kind)


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()
