"""``lungseg data fetch``: download a public lung-mask set and extract it into ``DEST/images/<stem>.png``
and ``DEST/masks/<stem>-mask.png`` (0/255, both lungs), the layout ``lungseg train --data DEST`` reads.

Nothing half-done reaches ``images/`` or ``masks/``: an archive is downloaded to
``DEST/.downloads/<file>.part`` (a partial one is resumed with an HTTP Range request) and renamed only
when complete; its sha256 is checked against the published one (``fetch_sources``) or the one recorded
in ``DEST/FETCH.json`` by an earlier fetch, else recorded there. Pairs are extracted into
``DEST/.staging-<name>``, and its ``images``/``masks`` folders are renamed into place at the end.
Existing files in ``DEST/images`` or ``DEST/masks`` that an unfinished fetch did not put there are
never touched. ``DEST/SOURCE.txt`` gets the set's citation and licence.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from lungseg import __version__
from lungseg.data.download import DownloadFailed, download
from lungseg.data.fetch_records import (
    RECORD_NAME,
    ArchiveRecord,
    read_record,
    sha256_of,
    verify_archive,
    write_record,
)
from lungseg.data.fetch_sources import Archive, DataSource, Progress, extract_pairs
from lungseg.errors import InputError
from lungseg.io import write_text_atomic

__all__ = [
    "RECORD_NAME",
    "ArchiveRecord",
    "DownloadFailed",
    "FetchResult",
    "download",
    "fetch_set",
    "read_record",
    "sha256_of",
    "write_record",
]

DOWNLOADS = ".downloads"


@dataclass(frozen=True)
class FetchResult:
    """What a fetch left in ``dest``; ``already_fetched`` when an earlier fetch had done it all."""

    name: str
    dest: Path
    images: int
    masks: int
    archives: tuple[ArchiveRecord, ...]
    notes: tuple[str, ...] = ()
    already_fetched: bool = False


def fetch_set(
    source: DataSource,
    dest: str | Path,
    archive: Sequence[str | Path] = (),
    url: Sequence[str] = (),
    timeout: float = 60.0,
    log: Callable[[str], None] = lambda line: None,
    progress: Progress = lambda what, done, total: None,
) -> FetchResult:
    """Download (or take from ``archive``: local copies, one per archive of the set, in order; or from
    ``url`` overrides, also ``file://``), verify and extract ``source`` into ``dest``; returns what it wrote."""
    for given, option in ((archive, "archive"), (url, "url")):
        if given and len(given) != len(source.archives):
            names = " then ".join(a.filename for a in source.archives)
            raise ValueError(
                f"{option}: {source.name} has {len(source.archives)} archive(s) ({names}); got {len(given)}"
            )
    if archive and url:
        raise ValueError("archive: give local archives or URLs, not both")
    dest = Path(dest)
    record = read_record(dest)
    if record is not None and record.get("name") != source.name:
        raise InputError(
            dest / RECORD_NAME,
            f"this folder holds the {record.get('name')!r} set; fetch {source.name} into another folder",
        )
    complete = record is not None and record.get("state") == "complete"
    if complete and _counts(dest) == (record["images"], record["masks"]):
        return FetchResult(
            source.name,
            dest,
            record["images"],
            record["masks"],
            tuple(ArchiveRecord(**entry) for entry in record["archives"].values()),
            tuple(record.get("notes", ())),
            already_fetched=True,
        )
    _check_targets(dest, record, log)
    dest.mkdir(parents=True, exist_ok=True)
    record = record or {"name": source.name, "archives": {}}
    archive_paths, downloaded = [], []
    for index, item in enumerate(source.archives):
        path, entry = _obtain(
            item,
            dest,
            record["archives"].get(item.filename),
            archive[index] if archive else None,
            url[index] if url else None,
            timeout,
            log,
            progress,
        )
        record["archives"][item.filename] = asdict(entry)
        record["state"] = "downloaded"
        write_record(dest, record)
        archive_paths.append(path)
        if not archive:
            downloaded.append(path)
    staging = dest / f".staging-{source.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        count, notes = extract_pairs(source, archive_paths, staging, progress)
        record.update(state="committing", images=count, masks=count, notes=notes)
        write_record(dest, record)
        for folder in ("images", "masks"):
            if (dest / folder).is_dir():
                (dest / folder).rmdir()  # empty: _check_targets refused any other
            os.replace(staging / folder, dest / folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archives = tuple(ArchiveRecord(**entry) for entry in record["archives"].values())
    write_text_atomic(dest / "SOURCE.txt", _source_text(source, archives))
    record["state"] = "complete"
    write_record(dest, record)
    for path in downloaded:
        path.unlink()
        log(f"removed the downloaded {path.name} (its sha256 stays in {dest / RECORD_NAME})")
    _remove_if_empty(dest / DOWNLOADS)
    return FetchResult(source.name, dest, count, count, archives, tuple(notes))


def _counts(dest: Path) -> tuple[int, int]:
    return tuple(
        sum(1 for p in (dest / sub).iterdir() if not p.name.startswith(".")) if (dest / sub).is_dir() else -1
        for sub in ("images", "masks")
    )


def _check_targets(dest: Path, record: dict | None, log: Callable[[str], None]) -> None:
    """Refuse files in ``DEST/images``/``masks`` that fetch did not write; clear an interrupted commit's."""
    if dest.exists() and not dest.is_dir():
        raise InputError(dest, "is a file; give a folder to fetch into")
    state = None if record is None else record.get("state")
    if record is None and (dest / "SOURCE.txt").exists():
        raise InputError(
            dest / "SOURCE.txt",
            "exists and was not written by lungseg data fetch; choose "
            "another folder (lungseg never overwrites your files)",
        )
    for folder in (dest / "images", dest / "masks"):
        if folder.exists() and not folder.is_dir():
            raise InputError(folder, "is a file, but fetch writes a folder here; choose another folder")
        if folder.is_dir() and any(folder.iterdir()):
            if state == "committing":
                log(f"removing {folder}, left by an interrupted fetch")
                shutil.rmtree(folder)
                continue
            whose = (
                "differs from the fetch recorded in FETCH.json"
                if state == "complete"
                else "already holds files that lungseg data fetch did not write"
            )
            raise InputError(folder, f"{whose}; they are never overwritten: fetch into an empty or new folder")


def _obtain(
    archive: Archive,
    dest: Path,
    recorded: dict | None,
    local: str | Path | None,
    url: str | None,
    timeout: float,
    log,
    progress,
) -> tuple[Path, ArchiveRecord]:
    """The verified local path of ``archive`` and its record: ``local``, an earlier download, or a new one."""
    if local is not None:
        local = Path(local)
        if not local.is_file():
            raise InputError(local, "archive not found")
        return local, verify_archive(local, local.name, local.resolve().as_uri(), archive, recorded, False, log)
    final = dest / DOWNLOADS / archive.filename
    if final.is_file():
        log(f"using the earlier download {final}")
        return final, verify_archive(final, final.name, (recorded or {}).get("url", ""), archive, recorded, True, log)
    part = final.with_name(final.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for candidate in [url] if url else [source.url for source in archive.sources]:
        expected_size = (recorded or {}).get("size") or getattr(archive.listed_source(candidate), "size", None)
        try:
            if not (expected_size and part.is_file() and part.stat().st_size == expected_size):
                download(candidate, part, timeout, log, progress)
        except DownloadFailed as exc:
            log(f"{candidate}: {exc}")
            failures.append(f"{candidate}: {exc}")
            continue
        entry = verify_archive(part, final.name, candidate, archive, recorded, True, log)
        os.replace(part, final)
        return final, entry
    raise InputError(
        archive.filename,
        f"cannot download it ({'; '.join(failures)}); download it yourself and give it with --archive FILE",
    )


def _source_text(source: DataSource, archives: Sequence[ArchiveRecord]) -> str:
    lines = [
        f"{source.title}",
        f"Fetched by lungseg {__version__} (lungseg data fetch {source.name}).",
        "",
        source.citation,
    ]
    lines += [f"{a.file}: {a.url}\n  sha256 {a.sha256}, {a.size} bytes, {a.date}" for a in archives]
    return "\n".join(lines) + "\n"


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
