"""The public chest X-ray lung-mask sets that ``lungseg data fetch`` knows: where each archive is, what
is known about its bytes, its citation and licence, which archive members become
``DEST/images/<stem>.png`` and ``DEST/masks/<stem>-mask.png``, and ``extract_pairs``, which reads them.

Checksums: the NLM publishes no checksum or byte size for these archives, so none is listed except one
sha256 recorded by a third party for the older Open-i copy of the Montgomery set (its origin is named
below). Every other archive is verified against the sha256 that the first fetch into a folder records
in ``DEST/FETCH.json``.
"""

from __future__ import annotations

import io
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import numpy as np

from lungseg.errors import InputError, describe
from lungseg.io import write_mask_png
from lungseg.io.limits import check_size

CHUNK_BYTES = 1 << 20
Progress = Callable[[str, int, "int | None"], None]  # (what, done, total or None when unknown)

NLM_TB = "https://data.lhncbc.nlm.nih.gov/public/Tuberculosis-Chest-X-ray-Datasets"
OPEN_I = "https://openi.nlm.nih.gov/imgs/collections"


@dataclass(frozen=True)
class Source:
    """One place an archive can be downloaded from. ``sha256``/``size`` are None where nothing is
    published for this file; ``checksum_origin`` says where a listed checksum was found."""

    url: str
    sha256: str | None = None
    size: int | None = None
    checksum_origin: str = ""


@dataclass(frozen=True)
class Archive:
    """One zip archive of a set: its file name in ``DEST/.downloads``, what it holds, and where it is
    (official location first, then mirrors tried when a download fails)."""

    filename: str
    holds: str
    sources: tuple[Source, ...]

    def listed_source(self, url_or_name: str) -> Source | None:
        """The source with a listed checksum whose URL is ``url_or_name`` or whose file name is the
        last part of it (a local copy named as downloaded), or None."""
        name = _file_name(url_or_name)
        return next(
            (
                source
                for source in self.sources
                if source.sha256 is not None and (source.url == url_or_name or _file_name(source.url) == name)
            ),
            None,
        )


@dataclass(frozen=True)
class MemberRule:
    """Archive members holding one kind of file: ``pattern`` is matched (case-insensitively) against the
    member path and names the file stem in its ``stem`` group."""

    pattern: str

    def stem(self, member: str) -> str | None:
        """The stem named by ``member``, or None when the member is not of this kind."""
        match = re.search(self.pattern, member, re.IGNORECASE)
        return match.group("stem") if match else None


@dataclass(frozen=True)
class DataSource:
    """A public set: its archives, the members that are images, and the mask parts joined into one
    both-lungs mask per image (an image without every part is left out)."""

    name: str
    title: str
    archives: tuple[Archive, ...]
    images: MemberRule
    mask_parts: tuple[MemberRule, ...]
    citation: str


_STEM = r"(?P<stem>[^/.][^/]*)"

MONTGOMERY = DataSource(
    name="montgomery",
    title="Montgomery County chest X-ray set (NLM): 138 frontal films with manual left and right lung masks",
    archives=(
        Archive(
            "MontgomerySet.zip",
            "images and masks",
            (
                Source(f"{NLM_TB}/Montgomery-County-CXR-Set/MontgomerySet.zip"),
                Source(
                    f"{OPEN_I}/NLM-MontgomeryCXRSet.zip",
                    sha256="54601e952315d8f67383e9202a6e145997ade429f54f7e0af44b4e158714f424",
                    checksum_origin="recorded by torch-em (constantinpape/torch-em, "
                    "torch_em/data/datasets/medical/montgomery.py), not by the NLM",
                ),
            ),
        ),
    ),
    images=MemberRule(rf"(?:^|/)CXR_png/{_STEM}\.png$"),
    mask_parts=(
        MemberRule(rf"(?:^|/)ManualMask/leftMask/{_STEM}\.png$"),
        MemberRule(rf"(?:^|/)ManualMask/rightMask/{_STEM}\.png$"),
    ),
    citation="""\
Montgomery County chest X-ray set. U.S. National Library of Medicine (Lister Hill National Center for
Biomedical Communications) and the Department of Health and Human Services, Montgomery County, MD, USA.
138 posterior-anterior chest X-rays (80 normal, 58 with tuberculosis) with left and right lung masks
drawn under the supervision of a radiologist; here the two masks are joined into one.
Terms (NLM read-me): free for research; do not share the set outside your research group or
organisation (forward requests to the NLM); publications using it are asked to cite:
  Jaeger S, Candemir S, Antani S, Wang YXJ, Lu PX, Thoma G. Two public chest X-ray datasets for
  computer-aided screening of pulmonary diseases. Quant Imaging Med Surg. 2014;4(6):475-477.
  Candemir S, Jaeger S, Palaniappan K, et al. Lung segmentation in chest radiographs using anatomical
  atlases with nonrigid registration. IEEE Trans Med Imaging. 2014;33(2):577-590.
  Jaeger S, Karargyris A, Candemir S, et al. Automatic tuberculosis screening using chest radiographs.
  IEEE Trans Med Imaging. 2014;33(2):233-245.
""",
)

SHENZHEN = DataSource(
    name="shenzhen",
    title="Shenzhen Hospital chest X-ray set (NLM) with the lung masks of Stirenko et al. (566 of 662 films)",
    archives=(
        Archive(
            "ChinaSet_AllFiles.zip",
            "images",
            (
                Source(f"{NLM_TB}/Shenzhen-Hospital-CXR-Set/ChinaSet_AllFiles.zip"),
                Source(f"{OPEN_I}/ChinaSet_AllFiles.zip"),
            ),
        ),
        Archive(
            "shcxr-lung-mask.zip",
            "masks",
            (
                Source(
                    "https://www.kaggle.com/api/v1/datasets/download/yoctoman/shcxr-lung-mask?datasetVersionNumber=1"
                ),
            ),
        ),
    ),
    images=MemberRule(rf"(?:^|/)CXR_png/{_STEM}\.png$"),
    mask_parts=(MemberRule(r"(?:^|/)(?P<stem>[^/.][^/]*)_mask\.png$"),),
    citation="""\
Shenzhen Hospital chest X-ray set. Shenzhen No.3 People's Hospital, Guangdong Medical College, Shenzhen,
China, and the U.S. National Library of Medicine. 662 frontal chest X-rays (326 normal, 336 with
tuberculosis). Terms (NLM read-me): free for research; do not share the set outside your research group
or organisation; cite:
  Jaeger S, Candemir S, Antani S, Wang YXJ, Lu PX, Thoma G. Two public chest X-ray datasets for
  computer-aided screening of pulmonary diseases. Quant Imaging Med Surg. 2014;4(6):475-477.
Lung masks (566 of the 662 films; the others are left out): "Lung Masks for Shenzhen Hospital Chest X-ray
Set" (Kaggle yoctoman/shcxr-lung-mask), licence CC BY-NC-SA 4.0 (non-commercial, share alike),
attribution to the National Library of Medicine and the Computer Engineering Department, Faculty of
Informatics and Computer Engineering, National Technical University of Ukraine "Igor Sikorsky Kyiv
Polytechnic Institute"; cite:
  Stirenko S, Kochura Y, Alienin O, et al. Chest X-ray analysis of tuberculosis by deep learning with
  segmentation and augmentation. IEEE ELNANO 2018:422-428 (arXiv:1803.01199).
""",
)

DATA_SOURCES = {source.name: source for source in (MONTGOMERY, SHENZHEN)}


def data_source(name: str) -> DataSource:
    """The set called ``name``; ValueError listing the valid names for any other."""
    if name not in DATA_SOURCES:
        raise ValueError(f"name: unknown data set {name!r}; choose one of: {', '.join(DATA_SOURCES)}")
    return DATA_SOURCES[name]


def extract_pairs(
    source: DataSource,
    archive_paths: Sequence[Path],
    staging: Path,
    progress: Progress = lambda what, done, total: None,
) -> tuple[int, list[str]]:
    """Write every image with all its mask parts to ``staging/images/<stem>.png`` (the stored bytes) and
    ``staging/masks/<stem>-mask.png`` (the parts joined, 0/255); returns (pairs written, notes on what was
    left out). Refuses an archive with an absolute or ``..`` member path."""
    with ExitStack() as stack:
        archives = [stack.enter_context(_open_zip(path)) for path in archive_paths]
        images, parts = {}, {}
        for path, archive in zip(archive_paths, archives):
            for member in archive.namelist():
                _refuse_unsafe(path, member)
                if member.endswith("/") or "__MACOSX/" in member:
                    continue
                if (stem := source.images.stem(member)) is not None:
                    images.setdefault(stem, (path, archive, member))
                for index, rule in enumerate(source.mask_parts):
                    if (stem := rule.stem(member)) is not None:
                        parts.setdefault(stem, {}).setdefault(index, (path, archive, member))
        stems = sorted(stem for stem in images if len(parts.get(stem, {})) == len(source.mask_parts))
        if not stems:
            raise InputError(archive_paths[0], f"no {source.name} image with its lung mask(s) in the archive(s)")
        unmasked = len(images) - len(stems)
        notes = [f"{unmasked} image(s) without a lung mask left out"] if unmasked else []
        (staging / "images").mkdir(parents=True)
        (staging / "masks").mkdir()
        written = 0
        for done, stem in enumerate(stems, 1):
            path, archive, member = images[stem]
            width, height = _read_member(path, archive, member, header_only=True)
            mask = np.zeros((height, width), bool)
            for part_path, part_archive, part_member in parts[stem].values():
                part = _read_member(part_path, part_archive, part_member)
                if part.shape != mask.shape:
                    notes.append(
                        f"{stem} left out: its mask is {part.shape[1]}x{part.shape[0]}, the image {width}x{height}"
                    )
                    break
                mask |= part
            else:
                _copy_member(path, archive, member, staging / "images" / f"{stem}.png")
                write_mask(staging / "masks" / f"{stem}-mask.png", mask)
                written += 1
            progress("extract", done, len(stems))
    return written, notes


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Write a boolean lung mask as a 0/255 PNG."""
    write_mask_png(path, mask)


def _refuse_unsafe(archive_path: Path, member: str) -> None:
    name = member.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in PurePosixPath(name).parts:
        raise InputError(
            archive_path, f"member {member!r} has an absolute path or '..' (zip-slip); refusing the archive"
        )


def _read_member(path: Path, archive: zipfile.ZipFile, member: str, header_only: bool = False):
    """The (width, height) of the image stored at ``member`` (``header_only``), else its pixels as a
    boolean mask (non-zero gray is lung); the size is checked against the limits before decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with archive.open(member) as stored, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit comes first
            with Image.open(stored if header_only else io.BytesIO(stored.read())) as image:
                check_size(image.size[::-1], f"{path}:{member}")
                return image.size if header_only else np.asarray(image.convert("L")) > 0
    except (UnidentifiedImageError, OSError, zipfile.BadZipFile, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}:{member}", f"cannot read image ({describe(exc)})") from exc


def _copy_member(path: Path, archive: zipfile.ZipFile, member: str, target: Path) -> None:
    try:
        with archive.open(member) as stored, open(target, "wb") as out:
            shutil.copyfileobj(stored, out, CHUNK_BYTES)
    except zipfile.BadZipFile as exc:  # a damaged member (CRC)
        raise InputError(f"{path}:{member}", f"damaged archive member ({describe(exc)})") from exc


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(path, f"cannot open the zip archive ({describe(exc)})") from exc


def _file_name(url_or_path: str) -> str:
    return urlsplit(url_or_path).path.replace("\\", "/").rsplit("/", 1)[-1]
