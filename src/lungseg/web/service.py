"""What the pages and the API both do with analyses: create one from an upload (stage, de-identify,
screen, queue), list a user's history, delete one (files too); and with accounts: registration (the
first account is the administrator) and account deletion's clean-up."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lungseg.errors import InputError
from lungseg.inference.routing.route import AUTO
from lungseg.io.shipped import shipped_models
from lungseg.web import deid, pacs, results
from lungseg.web import reference as reference_masks
from lungseg.web.models import FIRST_ADMIN, Analysis, Job, User, new_id
from lungseg.web.schemas import AnalysisOptions, Registration, study_label
from lungseg.web.settings import MB, Settings
from lungseg.web.staging import StagingArea
from lungseg.web.uploads import UploadLimits, UploadRefused, stage_upload

log = logging.getLogger("lungseg.web")


def shipped_model_names() -> list[str]:
    """``auto`` (CT or chest X-ray lung model, chosen from the upload) first, as the default, then the
    shipped models (an 8-bit variant is picked by the input and a search variant by its nodule model, so
    neither is listed)."""
    models = shipped_models()
    variants = {entry.get(key) for entry in models.values() for key in ("eight_bit_variant", "search_variant")}
    names = [name for name in models if name not in variants]
    return [AUTO, *sorted(names, key=lambda name: (name != "ct-lung", name))]


def limits_of(settings: Settings) -> UploadLimits:
    return UploadLimits(
        max_total_bytes=settings.max_upload_mb * MB,
        max_files=settings.max_upload_files,
        max_uncompressed_bytes=settings.max_uncompressed_mb * MB,
    )


def create_analysis(
    db: Session,
    settings: Settings,
    user: User,
    files: Iterable[tuple[str, BinaryIO]],
    model: str,
    options: AnalysisOptions | None = None,
    staging: StagingArea | None = None,
    label: str | None = None,
    reference: tuple[str, BinaryIO] | None = None,
) -> Analysis:
    """Stage the upload in the staging area, de-identify DICOM, screen it with the model's own checks, and
    only then move it into a new analysis folder and queue a job. Raises ``UploadRefused`` (nothing is
    kept and no job is created).

    Raw files never enter the user's folder: a crash before the move leaves them in the staging area,
    which the next start sweeps (``lungseg.web.staging``). ``staging``: the app's area, whose byte quota
    all concurrent uploads share (a private one when None).

    ``label``: the user's study label (``schemas.study_label``, checked here). DICOM is de-identified with
    a secret salt per upload, or per user and label when one is given: every upload of one label gets the
    same date shift (and UID mapping), so the interval between two of its scans survives
    de-identification and nodule growth can be timed from their dates (``web.growth``).

    ``reference``: an optional reference mask (client name, stream) the result is scored against
    (``web.reference``), checked readable here and kept in the analysis folder.
    """
    try:
        label = study_label(label)
    except ValueError as exc:
        raise UploadRefused(str(exc), 422) from exc
    if model not in shipped_model_names():
        raise UploadRefused(f"unknown model {model!r}; choose one of {', '.join(shipped_model_names())}")
    staging = staging or StagingArea(settings.staging_dir, settings.max_staging_mb * MB)
    analysis_id = new_id()
    folder = results.analysis_dir(settings.results_dir, user.id, analysis_id)
    with staging.claim() as work:
        inputs = work.path / "input"
        staged = stage_upload(files, inputs, limits_of(settings), work.take)
        uids: dict[str, str] = {}  # new -> original UIDs, for the SEG that overlays in the user's PACS
        if staged.kind == "dicom-series":
            deid.deidentify_dicom_folder(staged.path, salt=date_salt(settings, user, label, analysis_id), uids=uids)
        kept = stage_reference(reference, work.path, settings, work.take) if reference else None
        try:
            results.screen_input(staged.path, model, staged.kind)
        except InputError as exc:
            raise UploadRefused(results.scrub(_named(exc, inputs, staged.files), work.path), 422) from exc
        try:
            folder.mkdir(parents=True)
            shutil.move(inputs, folder / "input")  # de-identified and accepted: now it may enter the user's folder
            if uids:
                pacs.write_map(folder, uids)
            if kept is not None:
                shutil.move(kept.parent, folder / reference_masks.FOLDER)
            analysis = Analysis(
                id=analysis_id,
                user_id=user.id,
                input_name=staged.original_name[:255],
                input_kind=staged.kind,
                model=model,
                study_label=label,
                options={
                    "input": str(staged.path.relative_to(inputs)),
                    "files": staged.files,
                    "postprocess": (options or AnalysisOptions()).model_dump(),
                    "reference": (reference[0] or "reference")[:255] if reference and kept else None,
                    # how DICOM dates were shifted: one offset per study label, or one per upload (web.growth)
                    "date_shift": ("study label" if label else "upload") if staged.kind == "dicom-series" else None,
                },
            )
            analysis.job = Job()
            db.add(analysis)
            db.commit()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    log.info("analysis %s queued (%s, %s)", analysis_id, staged.kind, model)
    return analysis


def stage_reference(
    reference: tuple[str, BinaryIO], work: Path, settings: Settings, take: Callable[[int], None]
) -> Path:
    """Write the reference mask into ``work/reference`` under a generated name (the client's name may say
    who the patient is), within the upload size limit, and check it reads; ``UploadRefused`` otherwise."""
    name, stream = reference
    if not reference_masks.accepts(name):
        raise UploadRefused(f"reference mask: use one of {', '.join(reference_masks.SUFFIXES)}", 415)
    suffix = next(s for s in sorted(reference_masks.SUFFIXES, key=len, reverse=True) if name.lower().endswith(s))
    folder = work / reference_masks.FOLDER
    folder.mkdir()
    path = folder / f"reference{suffix}"
    limit, written = settings.max_upload_mb * MB, 0
    with open(path, "wb") as handle:
        while chunk := stream.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise UploadRefused(f"reference mask: larger than the limit of {settings.max_upload_mb} MB", 413)
            take(len(chunk))
            handle.write(chunk)
    try:
        reference_masks.read_reference(path)
    except InputError as exc:
        raise UploadRefused(f"reference mask: {exc.reason}", 422) from exc
    return path


def date_salt(settings: Settings, user: User, label: str | None, analysis_id: str) -> str:
    """The de-identification salt: per user and study label when a label is given (one date shift for
    the label's scans), else per upload."""
    return f"{settings.key}|label|{user.id}|{label}" if label else settings.key + analysis_id


def register_user(db: Session, data: Registration, password_hash: str) -> User | None:
    """Create the account; None when its email is registered already (also by a request at the same moment).

    The first account of a site is its administrator, decided by the database rather than by a count
    another request may take at the same moment: it is inserted with ``first_admin`` set, which a unique
    index allows on one account only, so of simultaneous first registrations one commits it and the
    others are created again as plain users.
    """
    if db.scalar(select(User.id).where(User.email == data.email)) is not None:
        return None
    first = db.scalar(select(func.count()).select_from(User)) == 0
    for admin in (True, False) if first else (False,):
        user = User(
            email=data.email,
            full_name=data.full_name,
            password_hash=password_hash,
            age=data.age,
            gender=data.gender,
            mobile=data.mobile,
            is_admin=admin,
            first_admin=FIRST_ADMIN if admin else None,
        )
        db.add(user)
        try:
            db.commit()
            return user
        except IntegrityError:
            db.rollback()
            if db.scalar(select(User.id).where(User.email == data.email)) is not None:
                return None
    return None


def _named(error: InputError, inputs, files: int) -> str:
    """The reason, naming the stored file (``0004.dcm`` is the 4th file sent) when one file of several is
    at fault; never the server's path."""
    try:
        name = error.path.relative_to(inputs) if error.path is not None else None
    except ValueError:
        name = None
    if files < 2 or name is None or name.name in ("", "."):
        return error.reason
    return f"file {name.as_posix()} of the upload: {error.reason}"


def delete_analysis(db: Session, settings: Settings, analysis: Analysis) -> None:
    """Remove the analysis, its job and its files (a running job finds its row gone and stops quietly)."""
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    db.delete(analysis)
    db.commit()
    shutil.rmtree(folder, ignore_errors=True)


def delete_user(db: Session, settings: Settings, user: User) -> None:
    """The account and everything of it: sessions, tokens, analyses, jobs (cascades) and every file."""
    folder = settings.results_dir / user.id
    db.delete(user)
    db.commit()
    shutil.rmtree(folder, ignore_errors=True)
