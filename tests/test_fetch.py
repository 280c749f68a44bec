"""``lungseg data fetch``: download, resume, verify and extract the NLM lung-mask sets, tested offline
against archives built from the real Montgomery films in ../shared/data (file:// URLs and a local HTTP
server; the real NLM URLs are never contacted)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import shared
from lungseg.data import fetch_sources, find_pairs
from lungseg.data.fetch import fetch_set, read_record
from lungseg.data.fetch_sources import MONTGOMERY, SHENZHEN, Archive, Source
from lungseg.errors import InputError

STEMS = [f"MCUCXR_000{i}_0" for i in range(1, 5)]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def films() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four real Montgomery films (gray uint8) and their both-lung masks (bool), by NLM-style stem."""
    root = shared("xray-lung-montgomery")
    return {
        stem: (
            np.asarray(Image.open(root / "images" / f"{i}.jpg").convert("L")),
            np.asarray(Image.open(root / "masks" / f"{i}-mask.png")) > 0,
        )
        for i, stem in enumerate(STEMS, 1)
    }


def _montgomery_zip(path, films, extra: dict[str, bytes] | None = None):
    """An archive laid out as NLM's MontgomerySet.zip: CXR_png/ plus ManualMask/leftMask and rightMask
    (each real mask split into halves by image column), with the clutter real archives carry."""
    with zipfile.ZipFile(path, "w") as archive:
        for stem, (image, mask) in films.items():
            half = mask.shape[1] // 2
            left, right = mask.copy(), mask.copy()
            left[:, half:], right[:, :half] = False, False
            archive.writestr(f"MontgomerySet/CXR_png/{stem}.png", _png(image))
            archive.writestr(f"MontgomerySet/ManualMask/leftMask/{stem}.png", _png(left.astype(np.uint8) * 255))
            archive.writestr(f"MontgomerySet/ManualMask/rightMask/{stem}.png", _png(right.astype(np.uint8) * 255))
            archive.writestr(f"MontgomerySet/ClinicalReadings/{stem}.txt", "Patient's Sex: F\nnormal\n")
            archive.writestr(f"__MACOSX/MontgomerySet/CXR_png/._{stem}.png", b"\0\5\26\7")
        archive.writestr("MontgomerySet/CXR_png/Thumbs.db", b"\xd0\xcf\x11\xe0")
        archive.writestr("MontgomerySet/ManualMask/", b"")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def montgomery_zip(tmp_path_factory, films):
    return _montgomery_zip(tmp_path_factory.mktemp("nlm") / "MontgomerySet.zip", films)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _with_source(url: str, sha256: str | None = None):
    """The Montgomery set served from ``url`` (with a published checksum when given)."""
    return dataclasses.replace(
        MONTGOMERY, archives=(Archive("MontgomerySet.zip", "images and masks", (Source(url, sha256=sha256),)),)
    )


def _assert_nothing_extracted(dest):
    for folder in ("images", "masks"):
        assert not (dest / folder).exists() or not any((dest / folder).iterdir())
    assert not list(dest.rglob("*.part")) and not list(dest.glob(".staging-*"))


def _assert_montgomery(dest, films):
    pairs = find_pairs(dest / "images", dest / "masks")  # the layout `lungseg train --data DEST` reads
    assert [pair.name for pair in pairs] == STEMS
    for pair in pairs:
        image, mask = films[pair.name]
        assert pair.mask.name == f"{pair.name}-mask.png"
        np.testing.assert_array_equal(np.asarray(Image.open(pair.image)), image)
        stored = np.asarray(Image.open(pair.mask))
        assert stored.dtype == np.uint8 and set(np.unique(stored)) <= {0, 255}
        np.testing.assert_array_equal(stored > 0, mask)  # left | right = the whole real mask


def test_fetch_from_file_url_extracts_joined_masks(tmp_path, montgomery_zip, films):
    dest = tmp_path / "montgomery"
    lines = []
    result = fetch_set(MONTGOMERY, dest, url=[montgomery_zip.as_uri()], log=lines.append)
    assert (result.images, result.masks, result.already_fetched) == (4, 4, False)
    _assert_montgomery(dest, films)
    record = read_record(dest)
    entry = record["archives"]["MontgomerySet.zip"]
    assert record["name"] == "montgomery" and record["state"] == "complete"
    assert entry["sha256"] == _sha256(montgomery_zip) and entry["size"] == montgomery_zip.stat().st_size
    assert entry["url"] == montgomery_zip.as_uri() and entry["checksum"] == "new" and entry["date"]
    assert any(entry["sha256"] in line and "no checksum published" in line for line in lines)
    source_text = (dest / "SOURCE.txt").read_text()
    assert "Jaeger S" in source_text and entry["sha256"] in source_text
    assert not (dest / ".downloads").exists() and not list(dest.glob(".staging-*"))

    again = fetch_set(MONTGOMERY, dest, url=[montgomery_zip.as_uri()])
    assert again.already_fetched and (again.images, again.masks) == (4, 4)


def test_published_checksum_mismatch_is_refused(tmp_path, montgomery_zip):
    dest = tmp_path / "dest"
    wrong = "0" * 64
    with pytest.raises(InputError) as caught:
        fetch_set(_with_source(montgomery_zip.as_uri(), wrong), dest)
    message = str(caught.value)
    assert "\n" not in message and "MontgomerySet.zip" in message
    assert f"expected {wrong}" in message and f"got {_sha256(montgomery_zip)}" in message
    assert "deleted" in message
    _assert_nothing_extracted(dest)
    assert not (dest / ".downloads" / "MontgomerySet.zip").exists() and montgomery_zip.is_file()

    result = fetch_set(_with_source(montgomery_zip.as_uri(), _sha256(montgomery_zip)), tmp_path / "good")
    assert result.archives[0].checksum == "published" and result.images == 4


def test_recorded_checksum_guards_later_fetches(tmp_path, montgomery_zip, films):
    dest = tmp_path / "dest"
    fetch_set(MONTGOMERY, dest, archive=[montgomery_zip])
    for folder in ("images", "masks"):  # the user removed the extracted files; FETCH.json stays
        for path in (dest / folder).iterdir():
            path.unlink()
    other = _montgomery_zip(tmp_path / "MontgomerySet.zip", dict(list(films.items())[:3]))
    with pytest.raises(
        InputError, match=f"expected {_sha256(montgomery_zip)} \\(recorded in FETCH.json\\), got {_sha256(other)}"
    ):
        fetch_set(MONTGOMERY, dest, archive=[other])
    assert other.is_file()  # a user's own copy is never deleted
    _assert_nothing_extracted(dest)
    assert fetch_set(MONTGOMERY, dest, archive=[montgomery_zip]).archives[0].checksum == "recorded"
    _assert_montgomery(dest, films)


class _ArchiveServer:
    """A local HTTP server for one file, honouring ``Range: bytes=N-`` (206, or 416 past the end) unless
    ``honour_range`` is False (then it always answers 200 with the whole file); the first answer stops at
    byte ``cut_first_at`` when given (a dropped connection). Records the Range headers it got."""

    def __init__(self, data: bytes, honour_range: bool, cut_first_at: int | None = None):
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                wanted = self.headers.get("Range") if honour_range else None
                start = int(wanted.split("=")[1].rstrip("-")) if wanted else 0
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if wanted else 200)
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if cut_first_at is not None and len(server.ranges) == 1:
                    self.wfile.write(data[start:cut_first_at])  # then the connection drops
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/MontgomerySet.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("honour_range", [True, False], ids=["resumed", "server-ignores-range"])
def test_partial_download_is_resumed_or_restarted(tmp_path, montgomery_zip, films, monkeypatch, honour_range):
    monkeypatch.setenv("no_proxy", "*")
    data = montgomery_zip.read_bytes()
    dest = tmp_path / "dest"
    part = dest / ".downloads" / "MontgomerySet.zip.part"
    part.parent.mkdir(parents=True)
    half = len(data) // 2
    # a true first half to resume; junk where the server will send the whole file again anyway
    part.write_bytes(data[:half] if honour_range else b"\0" * half)
    lines = []
    with _ArchiveServer(data, honour_range) as server:
        result = fetch_set(MONTGOMERY, dest, url=[server.url], log=lines.append)
    assert server.ranges == [f"bytes={half}-"]
    assert any(("resuming" if honour_range else "starting again from zero") in line for line in lines)
    assert result.archives[0].sha256 == _sha256(montgomery_zip) and result.archives[0].size == len(data)
    _assert_montgomery(dest, films)


def test_dropped_connection_is_resumed_in_the_same_run(tmp_path, montgomery_zip, films, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    data = montgomery_zip.read_bytes()
    cut = len(data) // 3
    with _ArchiveServer(data, honour_range=True, cut_first_at=cut) as server:
        result = fetch_set(MONTGOMERY, tmp_path / "dest", url=[server.url])
    assert server.ranges == [None, f"bytes={cut}-"]
    assert result.archives[0].sha256 == _sha256(montgomery_zip)
    _assert_montgomery(tmp_path / "dest", films)


def test_part_longer_than_the_file_restarts_after_416(tmp_path, montgomery_zip, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    data = montgomery_zip.read_bytes()
    dest = tmp_path / "dest"
    part = dest / ".downloads" / "MontgomerySet.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data + b"trailing junk")
    with _ArchiveServer(data, honour_range=True) as server:
        result = fetch_set(MONTGOMERY, dest, url=[server.url])
    assert server.ranges == [f"bytes={len(data) + 13}-", None]
    assert result.archives[0].sha256 == _sha256(montgomery_zip) and result.images == 4


def test_unreachable_url_is_one_line_error(tmp_path):
    with pytest.raises(InputError, match="cannot download it .*--archive FILE") as caught:
        fetch_set(MONTGOMERY, tmp_path / "dest", url=[(tmp_path / "missing.zip").as_uri()])
    assert "\n" not in str(caught.value)


def test_interrupted_extraction_leaves_nothing_and_reruns(tmp_path, montgomery_zip, films, monkeypatch):
    dest = tmp_path / "dest"
    written = []

    def failing_writer(path, mask):
        if len(written) == 2:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        original(path, mask)

    original = fetch_sources.write_mask
    monkeypatch.setattr(fetch_sources, "write_mask", failing_writer)
    with pytest.raises(OSError, match="No space left"):
        fetch_set(MONTGOMERY, dest, url=[montgomery_zip.as_uri()])
    assert len(written) == 2
    _assert_nothing_extracted(dest)
    assert read_record(dest)["state"] == "downloaded"  # the verified archive is kept for the rerun
    assert (dest / ".downloads" / "MontgomerySet.zip").is_file()

    monkeypatch.setattr(fetch_sources, "write_mask", original)
    lines = []
    result = fetch_set(MONTGOMERY, dest, url=[montgomery_zip.as_uri()], log=lines.append)
    assert result.images == 4 and any("earlier download" in line for line in lines)
    assert result.archives[0].checksum == "recorded"
    _assert_montgomery(dest, films)


def test_interrupted_commit_is_redone(tmp_path, montgomery_zip, films):
    dest = tmp_path / "dest"
    fetch_set(MONTGOMERY, dest, archive=[montgomery_zip])
    record = read_record(dest)
    record["state"] = "committing"  # as if killed between moving images/ and masks/ into place
    (dest / "FETCH.json").write_text(json.dumps(record))
    for path in (dest / "masks").iterdir():
        path.unlink()
    (dest / "images" / f"{STEMS[0]}.png").unlink()
    assert fetch_set(MONTGOMERY, dest, archive=[montgomery_zip]).images == 4
    _assert_montgomery(dest, films)


@pytest.mark.parametrize("member", ["MontgomerySet/CXR_png/../../../evil.png", "/tmp/evil.png"])
def test_zip_slip_member_is_refused(tmp_path, films, member):
    archive = _montgomery_zip(tmp_path / "MontgomerySet.zip", films, extra={member: b"evil"})
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(InputError, match="zip-slip"):
        fetch_set(MONTGOMERY, dest, archive=[archive])
    _assert_nothing_extracted(dest)
    assert not list(tmp_path.rglob("evil.png"))


def test_user_files_are_never_overwritten(tmp_path, montgomery_zip):
    dest = tmp_path / "dest"
    (dest / "images").mkdir(parents=True)
    (dest / "images" / "mine.png").write_bytes(b"user data")
    with pytest.raises(InputError, match="did not write.*never overwritten") as caught:
        fetch_set(MONTGOMERY, dest, archive=[montgomery_zip])
    assert str(dest / "images") in str(caught.value)
    assert (dest / "images" / "mine.png").read_bytes() == b"user data"
    assert not (dest / "masks").exists() and not (dest / "FETCH.json").exists()

    fetched = tmp_path / "fetched"
    fetch_set(MONTGOMERY, fetched, archive=[montgomery_zip])
    with pytest.raises(InputError, match="holds the 'montgomery' set"):
        fetch_set(SHENZHEN, fetched, archive=[montgomery_zip, montgomery_zip])
    (fetched / "images" / "extra.png").write_bytes(b"user data")
    with pytest.raises(InputError, match="differs from the fetch recorded"):
        fetch_set(MONTGOMERY, fetched, archive=[montgomery_zip])


def test_shenzhen_joins_two_archives_and_leaves_out_unmasked_films(tmp_path, films):
    images_zip, masks_zip = tmp_path / "ChinaSet_AllFiles.zip", tmp_path / "shcxr-lung-mask.zip"
    stems = [f"CHNCXR_000{i}_0" for i in range(1, 5)]
    with zipfile.ZipFile(images_zip, "w") as archive:
        for stem, (image, _) in zip(stems, films.values()):
            archive.writestr(f"ChinaSet_AllFiles/CXR_png/{stem}.png", _png(image))
        archive.writestr("ChinaSet_AllFiles/NLM-ChinaCXRSet-ReadMe.docx", b"PK")
    with zipfile.ZipFile(masks_zip, "w") as archive:
        for stem, (_, mask) in list(zip(stems, films.values()))[:3]:
            stored = mask if stem != stems[2] else mask[:-8]  # one mask of the wrong size
            archive.writestr(f"mask/{stem}_mask.png", _png(stored.astype(np.uint8) * 255))
    dest = tmp_path / "shenzhen"
    result = fetch_set(SHENZHEN, dest, archive=[images_zip, masks_zip])
    assert (result.images, result.masks) == (2, 2)
    assert "1 image(s) without a lung mask left out" in result.notes
    assert any(stems[2] in note and "504" in note for note in result.notes)
    pairs = find_pairs(dest / "images", dest / "masks")
    assert [pair.name for pair in pairs] == stems[:2]
    np.testing.assert_array_equal(np.asarray(Image.open(pairs[1].mask)) > 0, list(films.values())[1][1])
    assert "CC BY-NC-SA 4.0" in (dest / "SOURCE.txt").read_text()
    assert set(read_record(dest)["archives"]) == {"ChinaSet_AllFiles.zip", "shcxr-lung-mask.zip"}


def test_registry_lists_official_urls_and_only_sourced_checksums():
    for source in (MONTGOMERY, SHENZHEN):
        assert source.citation and source.archives
        for archive in source.archives:
            assert archive.sources[0].url.startswith("https://")
            for listed in archive.sources:
                assert (listed.sha256 is None) == (listed.checksum_origin == "")
    assert MONTGOMERY.archives[0].sources[0].url.startswith("https://data.lhncbc.nlm.nih.gov/")
    assert len(SHENZHEN.archives) == 2  # images from the NLM, lung masks published separately


def _cli(*args):
    from lungseg.cli.main import app

    return CliRunner().invoke(app, ["data", "fetch", *map(str, args)])


def test_cli_fetch(tmp_path, montgomery_zip, films):
    dest = tmp_path / "montgomery"
    result = _cli("montgomery", dest, "--url", montgomery_zip.as_uri())
    assert result.exit_code == 0, result.output
    assert (
        f"4 images and 4 masks in {dest}; train with: lungseg train --data {dest} --config recipes/xray-lung.yaml"
    ) in result.output
    assert _sha256(montgomery_zip) in result.output
    _assert_montgomery(dest, films)
    again = _cli("montgomery", dest, "--archive", montgomery_zip)
    assert again.exit_code == 0 and "already fetched" in again.output


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["lungs", "DEST"], ["unknown data set 'lungs'", "montgomery, shenzhen"]),
        (["shenzhen", "DEST", "--archive", "ZIP"], ["shenzhen has 2 archive(s)", "ChinaSet_AllFiles.zip then"]),
        (["montgomery", "DEST", "--archive", "missing.zip"], ["missing.zip: archive not found"]),
    ],
)
def test_cli_errors_are_one_line(tmp_path, montgomery_zip, args, fragments):
    replaced = {"DEST": tmp_path / "dest", "ZIP": montgomery_zip, "missing.zip": tmp_path / "missing.zip"}
    result = _cli(*[replaced.get(arg, arg) for arg in args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "dest" / "images").exists()
