"""Pages for analyses: upload, history, the result page with its viewer, job status, downloads, slice
images for the fallback viewer, delete. Every route checks ownership (404 for anyone else)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from lungseg.labels import NODULE, SPLIT_LUNGS, label_class
from lungseg.web import nodules, results
from lungseg.web.deps import FormLimitedRoute, check_csrf, get_db, get_settings, owned_analysis, page_user
from lungseg.web.history import SORTS, VERDICTS, HistoryQuery, history
from lungseg.web.models import User
from lungseg.web.schemas import MAX_STUDY_LABEL, AnalysisOptions
from lungseg.web.service import create_analysis, delete_analysis, shipped_model_names
from lungseg.web.settings import Settings
from lungseg.web.templating import render
from lungseg.web.uploads import UploadRefused
from lungseg.web.views import (
    agreement_chart,
    job_status,
    next_steps,
    render_slice,
    slice_counts,
    thumbnail_png,
    value_at,
)
from lungseg.web.worker import notify_workers

router = APIRouter(
    prefix="/analyses", dependencies=[Depends(check_csrf)], include_in_schema=False, route_class=FormLimitedRoute
)


@router.get("")
def history_page(
    request: Request,
    page: int = 1,
    label: str = "",
    q: str = "",
    model: str = "",
    verdict: Literal["", "ok", "check", "none"] = "",
    sort: Literal["newest", "oldest", "volume", "quality", "verdict"] = "newest",
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """``label``: one study label's analyses (the labels' links); ``q``: label or file name contains it;
    ``model``, ``verdict``: filters; ``sort``: ``history.SORTS``."""
    label, q = (" ".join(text.split())[:MAX_STUDY_LABEL] for text in (label, q))
    query = HistoryQuery(label or None, q or None, model[:100] or None, verdict or None, sort)
    found = history(db, user, page, settings.page_size, query)
    return render(
        request,
        "history.html",
        user=user,
        page=found,
        query=query,
        models=shipped_model_names(),
        sorts=SORTS,
        verdicts=VERDICTS,
    )


@router.get("/new")
def upload_form(request: Request, user: User = Depends(page_user)):
    return render(request, "upload.html", user=user, models=shipped_model_names())


@router.post("")
async def upload(
    request: Request,
    files: Annotated[list[UploadFile], File()],
    options: Annotated[AnalysisOptions, Form()],
    model: Annotated[str, Form()] = "auto",
    study_label: Annotated[str, Form(max_length=200)] = "",
    reference: Annotated[UploadFile | None, File()] = None,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    try:
        analysis = await queue_upload(request, files, model, options, user, db, settings, study_label, reference)
    except UploadRefused as exc:
        return render(
            request, "upload.html", status_code=exc.status, user=user, models=shipped_model_names(), errors=[exc.reason]
        )
    return RedirectResponse(f"/analyses/{analysis.id}", status_code=303)


async def queue_upload(
    request: Request,
    files: list[UploadFile],
    model: str,
    options: AnalysisOptions,
    user: User,
    db: Session,
    settings: Settings,
    label: str = "",
    reference: UploadFile | None = None,
):
    """Create the analysis (off the event loop: staging, de-identification and the model's screen take
    seconds) and tell the workers; ``UploadRefused`` says why nothing was queued."""
    analysis = await run_in_threadpool(
        create_analysis,
        db,
        settings,
        user,
        [(f.filename or "upload", f.file) for f in files],
        model,
        options,
        request.app.state.staging,
        label,
        (reference.filename or "reference", reference.file) if reference is not None and reference.filename else None,
    )
    notify_workers(settings, analysis.job.id)
    return analysis


@router.get("/{analysis_id}")
def result_page(
    request: Request,
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    done = analysis.job.state == "done"
    nodule_mode = nodules.refusal(analysis) is None
    legend = viewer_legend((analysis.summary or {}).get("labels") if done else None, nodule_mode)
    return render(
        request,
        "result.html",
        user=user,
        analysis=analysis,
        job=job_status(analysis.job),
        downloads=results.available(folder) if done else [],
        legend=legend,
        slices=slice_counts(folder) if done else 0,
        steps=next_steps(analysis),
        nodule_mode=nodule_mode,
        nodules=nodules.rows(analysis) if nodule_mode else None,
        nodules_found=nodule_mode and any((n.result or {}).get("found") for n in analysis.nodules),
    )


@router.get("/{analysis_id}/status")
def status(
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    return job_status(owned_analysis(analysis_id, user, db, settings.admin_sees_images).job)


@router.get("/{analysis_id}/files/{name}")
def download(
    analysis_id: str,
    name: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    return file_response(owned_analysis(analysis_id, user, db, settings.admin_sees_images), name, settings)


@router.get("/{analysis_id}/slice.png")
def slice_png(
    analysis_id: str,
    plane: str = "axial",
    index: int = -1,
    opacity: float = 0.35,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    found = [n.id for n in analysis.nodules if n.job.state == "done" and (n.result or {}).get("found")]
    return Response(
        render_slice(folder, plane, index, opacity, found),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.get("/{analysis_id}/value")
def value(
    analysis_id: str,
    plane: str = "axial",
    index: int = -1,
    fx: Annotated[float, Query(ge=0, le=1)] = 0.5,
    fy: Annotated[float, Query(ge=0, le=1)] = 0.5,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """The value (HU, or the gray level of a picture) and structure under a point of the 2D view's slice
    (``fx``, ``fy``: 0..1 of the picture's width and height), for the viewer's readout."""
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    if analysis.job.state != "done":
        raise HTTPException(404)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    found, label = value_at(folder, plane, index, fx, fy)
    summary = analysis.summary or {}
    in_hu = analysis.input_kind != "slice" or any(
        m.get("mean_hu") is not None for m in (summary.get("measurements") or {}).values()
    )
    names = summary.get("labels") or {}
    return {
        "value": round(found, 1),
        "unit": "HU" if in_hu else "gray level",
        "structure": names.get(str(label), "") if label else "",
    }


@router.get("/{analysis_id}/thumbnail.png")
async def thumbnail(
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """A 64-pixel picture of the result for the history row (made once, then kept with the result)."""
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    if analysis.job.state != "done":
        raise HTTPException(404)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    data = await run_in_threadpool(thumbnail_png, folder)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{analysis_id}/agreement.png")
def agreement(
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    return Response(agreement_chart(folder), media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/{analysis_id}/delete")
def confirm_delete(
    request: Request,
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
):
    """Ask before deleting: what goes (scan, results, nodules), that it cannot be undone."""
    analysis = owned_analysis(analysis_id, user, db)
    return render(request, "confirm_delete.html", user=user, analysis=analysis)


@router.post("/{analysis_id}/delete")
def delete(
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    delete_analysis(db, settings, owned_analysis(analysis_id, user, db))
    return RedirectResponse("/analyses", status_code=303)


def file_response(analysis, name: str, settings: Settings) -> FileResponse:
    """A result file by its download name (never a path from the URL); 404 when absent."""
    from fastapi import HTTPException

    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    match = next((d for d in results.available(folder) if d.name == name), None)
    if match is None or analysis.job.state != "done":
        raise HTTPException(404)
    short = analysis.id.split("-")[0]
    return FileResponse(
        folder / results.RESULT / match.filename,
        media_type=match.media_type,
        filename=f"lungseg-{short}-{match.filename}",
        headers={"Cache-Control": "private, no-store"},
    )


def viewer_legend(labels: dict | None, nodule_mode: bool = False) -> list[dict]:
    """The viewer's legend from a report's label table ({"1": "right lung", ...}): each value in its
    class's colour (``lungseg.labels``); the lungs before a result exists; with ``nodule_mode`` the
    nodules the viewer adds (label 7)."""
    if not labels:
        return [{"value": c.value, "name": c.name, "colour": list(c.colour)} for c in SPLIT_LUNGS]
    shown = {int(value): name for value, name in labels.items() if int(value) > 0}
    if nodule_mode:
        shown.setdefault(NODULE.value, NODULE.name)
    return [{"value": value, "name": name, "colour": list(label_class(value).colour)} for value, name in shown.items()]
