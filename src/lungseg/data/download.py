"""Downloads of ``lungseg data fetch``: a URL into a ``.part`` file, resumed with an HTTP Range request
and restarted from zero where the server cannot resume; ``DownloadFailed`` when it cannot be had."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from lungseg import __version__
from lungseg.data.fetch_sources import CHUNK_BYTES, Progress
from lungseg.errors import describe


class DownloadFailed(Exception):
    """A URL could not be downloaded (network, HTTP status); the next mirror may still work."""


def download(
    url: str,
    part: Path,
    timeout: float = 60.0,
    log: Callable[[str], None] = lambda line: None,
    progress: Progress = lambda what, done, total: None,
    attempts: int = 3,
) -> None:
    """Download ``url`` into ``part``, resuming from its current size with an HTTP Range request (from zero
    when the server answers 200 or 416, or its range or total size does not fit); ``DownloadFailed``
    when it cannot (a partial ``part`` is kept, to resume later)."""
    for _ in range(attempts):
        offset = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"User-Agent": f"lungseg/{__version__}"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        log(f"resuming {part.name} at {offset} bytes from {url}" if offset else f"downloading {url}")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                log("the server cannot resume this download (HTTP 416); starting again from zero")
                part.unlink()
                continue
            raise DownloadFailed(f"HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DownloadFailed(describe(getattr(exc, "reason", exc))) from exc
        with response:
            if offset and getattr(response, "status", None) == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != offset:
                    log("the server resumed at another byte than asked; starting again from zero")
                    part.unlink()
                    continue
            else:
                if offset:
                    log("the server does not resume downloads (it sent the whole file); starting again from zero")
                start, total = 0, _int(response.headers.get("Content-Length"))
            try:
                _stream(response, part, start, total, progress)
            except (OSError, http.client.HTTPException) as exc:
                log(f"download interrupted at {part.stat().st_size} bytes ({describe(exc)})")
                continue
        size = part.stat().st_size
        if total is not None and size < total:
            log(f"download interrupted at {size} of {total} bytes")
            continue
        if total is not None and size > total:
            log(f"{part.name}: {size} bytes, more than the {total} announced; starting again from zero")
            part.unlink()
            continue
        return
    raise DownloadFailed(
        f"incomplete after {attempts} attempts (the partial download is kept: run the command again to resume)"
    )


def _content_range(value: str | None) -> tuple[int, int | None]:
    """(first byte, total size or None) of a ``Content-Range: bytes FIRST-LAST/TOTAL`` header; (-1, None)
    when it cannot be read."""
    try:
        first, rest = (value or "").split(" ", 1)[1].split("-", 1)
        return int(first), _int(rest.split("/", 1)[1])
    except (IndexError, ValueError):
        return -1, None


def _stream(response, part: Path, start: int, total: int | None, progress: Progress) -> None:
    done = start
    with open(part, "ab" if start else "wb") as out:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            done += len(chunk)
            progress(f"download {part.name[:-5]}", done, total)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
