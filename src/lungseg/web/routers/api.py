"""JSON API under /api/v1 with personal access tokens (``Authorization: Bearer <token>``, created on the
account page): upload, job status, result, downloads, history, delete, and nodules at points (the viewer's
Nodule mode: post a voxel, read the nodule table). Same ownership rules as the pages (404 for anyone else's
analysis). Documented at /api/docs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from sqlalchemy.orm import Session

from lungseg.web import nodules, results
from lungseg.web.deps import FormLimitedRoute, api_user, get_db, get_settings, owned_analysis
from lungseg.web.models import Analysis, User
from lungseg.web.routers.analyses import file_response, queue_upload
from lungseg.web.routers.nodules import post_nodule
from lungseg.web.schemas import AnalysisList, AnalysisOptions, AnalysisOut, NodulePoint
from lungseg.web.service import delete_analysis, history
from lungseg.web.settings import Settings
from lungseg.web.uploads import UploadRefused
from lungseg.web.views import job_status

router = APIRouter(prefix="/api/v1", tags=["analyses"], route_class=FormLimitedRoute)


def _out(analysis: Analysis, settings: Settings) -> AnalysisOut:
    folder = results.analysis_dir(settings.results_dir, analysis.user_id, analysis.id)
    done = analysis.job.state == "done"
    downloads = (
        {d.name: f"/api/v1/analyses/{analysis.id}/files/{d.name}" for d in results.available(folder)} if done else {}
    )
    return AnalysisOut(
        id=analysis.id,
        created_at=analysis.created_at,
        input_name=analysis.input_name,
        input_kind=analysis.input_kind,
        model=analysis.model,
        job=job_status(analysis.job),
        summary=analysis.summary if done else None,
        downloads=downloads,
    )


@router.post("/analyses", status_code=202, response_model=AnalysisOut)
async def create(
    request: Request,
    files: Annotated[list[UploadFile], File()],
    options: Annotated[AnalysisOptions, Form()],
    model: Annotated[str, Form()] = "auto",
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Upload a scan (DICOM files, a .zip, a NIfTI/NRRD/MHA file or a PNG/JPG/TIFF slice) and queue it."""
    try:
        analysis = await queue_upload(request, files, model, options, user, db, settings)
    except UploadRefused as exc:
        raise HTTPException(exc.status, exc.reason) from exc
    return _out(analysis, settings)


@router.get("/analyses", response_model=AnalysisList)
def list_analyses(
    page: int = 1,
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """The user's analyses, newest first."""
    found = history(db, user, page, settings.page_size)
    return AnalysisList(
        items=[_out(a, settings) for a in found.items], page=found.number, pages=found.pages, total=found.total
    )


@router.get("/analyses/{analysis_id}", response_model=AnalysisOut)
def get_analysis(
    analysis_id: str,
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Job status, and when done the summary (volumes, quality, findings) and download links."""
    return _out(owned_analysis(analysis_id, user, db), settings)


@router.get("/analyses/{analysis_id}/files/{name}")
def get_file(
    analysis_id: str,
    name: str,
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """A result file: labels-nifti, labels-png, dicom-seg, axial, coronal, overlay, report, ct."""
    return file_response(owned_analysis(analysis_id, user, db), name, settings)


@router.delete("/analyses/{analysis_id}", status_code=204)
def remove(
    analysis_id: str,
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Delete the analysis and its files."""
    delete_analysis(db, settings, owned_analysis(analysis_id, user, db))


def _owned(analysis_id: str, user: User = Depends(api_user), db: Session = Depends(get_db)) -> Analysis:
    """The caller's analysis, or 404: a dependency, so it answers before the body is validated (someone
    else's analysis is 404 whatever the body, never a 422 that tells it exists)."""
    return owned_analysis(analysis_id, user, db)


@router.post("/analyses/{analysis_id}/nodules", status_code=202, tags=["nodules"])
def add_nodule(
    request: Request,
    point: NodulePoint,
    analysis: Analysis = Depends(_owned),
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Measure the nodule at a voxel (x, y, z: column, row, slice of the stored scan; z 0 on a 2D upload) as
    a small job: 202 with the row to poll (``GET .../nodules``), 200 when that point already has one. A
    point on no nodule gives a row with ``found`` false and the reason."""
    return post_nodule(request, db, settings, user, analysis, point.x, point.y, point.z)


@router.get("/analyses/{analysis_id}/nodules", tags=["nodules"])
def list_nodules(
    analysis_id: str,
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
):
    """The nodule table: per point the job, and when done found/reason, volume (mm³, mL), long and short axis
    (mm), mean and max HU, type, Lung-RADS category and its rule, confidence, warnings."""
    return nodules.rows(owned_analysis(analysis_id, user, db))
