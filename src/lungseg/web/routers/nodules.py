"""The viewer's Nodule mode (JSON for the result page's script, with the session cookie and CSRF token):
post the clicked voxel, list the nodule table, the label map with the nodules, delete a row. The same
ownership rule as every analysis route (404 for anyone else's); clicks are rate-limited per user
(``Settings.nodule_rate``) and capped per analysis (``Settings.max_nodules``). The JSON API with access
tokens has the same under ``/api/v1`` (``routers.api``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from lungseg.web import growth, nodules, results
from lungseg.web.deps import (
    FormLimitedRoute,
    check_csrf,
    get_db,
    get_settings,
    owned_analysis,
    page_user,
    session_user,
)
from lungseg.web.models import Analysis, Nodule, User
from lungseg.web.settings import Settings
from lungseg.web.templating import render, templates
from lungseg.web.worker import notify_workers

router = APIRouter(
    prefix="/analyses", dependencies=[Depends(check_csrf)], include_in_schema=False, route_class=FormLimitedRoute
)


def post_nodule(
    request: Request, db: Session, settings: Settings, user: User, analysis: Analysis, x: int, y: int, z: int
) -> JSONResponse:
    """Queue the nodule at (x, y, z) (202), or return the row the point already has (200); refusals as
    JSON with the reason (429 over the rate, 409/422 from ``nodules.queue_nodule``)."""
    existing = next((n for n in analysis.nodules if (n.x, n.y, n.z) == (x, y, z)), None)
    if existing is not None:  # the same point again: its row, no job, not counted against the rate
        return JSONResponse(nodules.row(existing), status_code=200)
    if not request.app.state.nodule_limiter.allowed(f"nodule:{user.id}"):
        detail = f"too many nodule clicks: at most {settings.nodule_rate}; wait a moment"
        return JSONResponse({"detail": detail}, status_code=429)  # JSON for the viewer, not the HTML error page
    try:
        before = {n.id for n in analysis.nodules}
        nodule = nodules.queue_nodule(db, settings.results_dir, analysis, (x, y, z), settings.max_nodules)
    except nodules.NoduleRefused as refused:
        return JSONResponse({"detail": refused.reason}, status_code=refused.status)
    new = nodule.id not in before
    if new:
        notify_workers(settings, nodule.job.id)
    return JSONResponse(nodules.row(nodule), status_code=202 if new else 200)


def owned_nodule(analysis: Analysis, nodule_id: str) -> Nodule:
    found = next((n for n in analysis.nodules if n.id == nodule_id), None)
    if found is None:
        raise HTTPException(404)
    return found


def _owned(analysis_id: str, user: User = Depends(session_user), db: Session = Depends(get_db)) -> Analysis:
    """The user's analysis, or 404: a dependency, so it answers before the form is validated (someone
    else's analysis is 404 whatever is posted, never a 422)."""
    return owned_analysis(analysis_id, user, db)


def _owned_page(
    analysis_id: str,
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Analysis:
    """The same for a page: 404 before the query is validated (an administrator may view, read-only)."""
    return owned_analysis(analysis_id, user, db, settings.admin_sees_images)


@router.post("/{analysis_id}/nodules")
def click(
    request: Request,
    x: Annotated[int, Form(ge=0)],
    y: Annotated[int, Form(ge=0)],
    z: Annotated[int, Form(ge=0)] = 0,
    analysis: Analysis = Depends(_owned),
    user: User = Depends(session_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    return post_nodule(request, db, settings, user, analysis, x, y, z)


@router.get("/{analysis_id}/nodules")
def table(
    analysis_id: str,
    user: User = Depends(session_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    return nodules.rows(owned_analysis(analysis_id, user, db, settings.admin_sees_images))


@router.get("/{analysis_id}/nodules/rows")
def table_rows(
    request: Request,
    analysis_id: str,
    user: User = Depends(session_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """The table's rows as the result page draws them (HTML), for the viewer's script to swap in."""
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    return templates.TemplateResponse(
        request, "_nodule_rows.html", {"table": nodules.rows(analysis)}, headers={"Cache-Control": "no-store"}
    )


@router.get("/{analysis_id}/nodules/labels.nii.gz")
async def labels(
    analysis_id: str,
    user: User = Depends(session_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """The label map with every found nodule as label 7, for the viewer's overlay."""
    analysis = owned_analysis(analysis_id, user, db, settings.admin_sees_images)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    if analysis.job.state != "done" or not (folder / results.RESULT / "labels.nii.gz").is_file():
        raise HTTPException(404)
    done = [n.id for n in analysis.nodules if n.job.state == "done"]
    data = await run_in_threadpool(nodules.label_volume, folder, done)
    return Response(data, media_type="application/gzip", headers={"Cache-Control": "private, no-store"})


@router.get("/{analysis_id}/nodules/{nodule_id}")
def one(
    analysis_id: str,
    nodule_id: str,
    user: User = Depends(session_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    return nodules.row(owned_nodule(owned_analysis(analysis_id, user, db, settings.admin_sees_images), nodule_id))


@router.get("/{analysis_id}/nodules/{nodule_id}/compare")
def compare_page(
    request: Request,
    nodule_id: str,
    other: str = "",
    earlier: str = "other",
    interval_days: Annotated[float | None, Query(ge=0, le=36500)] = None,
    analysis: Analysis = Depends(_owned_page),
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Growth of this nodule against a found nodule of another analysis with the same study label (a GET
    form: choose the other nodule, optionally the interval in days and which scan is earlier)."""
    nodule = owned_nodule(analysis, nodule_id)
    if not growth.found(nodule):
        raise HTTPException(404)
    choices = growth.partners(db, analysis, nodule)
    comparison = None
    if other:
        try:
            comparison = growth.compare_with(
                db, settings.results_dir, analysis, nodule, other, interval_days, this_is_older=earlier == "this"
            )
        except LookupError:
            raise HTTPException(404) from None
    return render(
        request,
        "compare.html",
        user=user,
        analysis=analysis,
        nodule=nodules.row(nodule),
        index=analysis.nodules.index(nodule) + 1,
        choices=choices,
        other=other,
        earlier=earlier,
        interval_days=interval_days,
        comparison=comparison,
    )


@router.post("/{analysis_id}/nodules/{nodule_id}/delete")
def delete(
    analysis_id: str,
    nodule_id: str,
    user: User = Depends(session_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    analysis = owned_analysis(analysis_id, user, db)
    nodule = owned_nodule(analysis, nodule_id)
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    db.delete(nodule)
    db.commit()
    nodules.mask_path(folder, nodule_id).unlink(missing_ok=True)
    return {"deleted": nodule_id}
