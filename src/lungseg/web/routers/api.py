"""JSON API under /api/v1 with personal access tokens (``Authorization: Bearer <token>``, created on the
account page): upload, job status, result, downloads, history, delete, and nodules at points (the viewer's
Nodule mode: post a voxel, read the nodule table; growth against another analysis of the study label). Same
ownership rules as the pages (404 for anyone else's analysis). Documented at /api/docs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from sqlalchemy.orm import Session

from lungseg.web import growth, nodules, results
from lungseg.web.deps import FormLimitedRoute, api_user, get_db, get_settings, owned_analysis
from lungseg.web.history import history
from lungseg.web.models import Analysis, User
from lungseg.web.routers.analyses import file_response, queue_upload
from lungseg.web.routers.nodules import post_nodule
from lungseg.web.schemas import AnalysisList, AnalysisOptions, AnalysisOut, NodulePoint
from lungseg.web.service import delete_analysis
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
        study_label=analysis.study_label,
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
    study_label: Annotated[str, Form(max_length=200)] = "",
    reference: Annotated[UploadFile | None, File()] = None,
    user: User = Depends(api_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Upload a scan (DICOM files, a .zip, a NIfTI/NRRD/MHA file or a PNG/JPG/TIFF slice) and queue it.
    ``study_label``: your own label of the patient or study (not a name or ID); uploads with one label
    can have their nodules compared, with the interval from their (consistently shifted) DICOM dates."""
    try:
        analysis = await queue_upload(request, files, model, options, user, db, settings, study_label, reference)
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


@router.get("/analyses/{analysis_id}/nodules/{nodule_id}/compare", tags=["nodules"])
def compare_nodules(
    nodule_id: str,
    other: str,
    earlier: Literal["this", "other"] = "other",
    interval_days: Annotated[float | None, Query(ge=0, le=36500)] = None,
    analysis: Analysis = Depends(_owned),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    """Growth between this found nodule and nodule ``other`` of another of your analyses with the same study
    label: volumes, change (mm³, %), trend, interval (``interval_days``, else the two uploads' DICOM dates
    when both were shifted with the label's offset) and its source, volume-doubling time. ``earlier`` says
    which scan is older when no dates decide. 404 for a nodule that is not found or not yours."""
    nodule = next((n for n in analysis.nodules if n.id == nodule_id), None)
    if nodule is None:
        raise HTTPException(404)
    try:
        return growth.compare_with(
            db, settings.results_dir, analysis, nodule, other, interval_days, this_is_older=earlier == "this"
        ).to_dict()
    except LookupError:
        raise HTTPException(404) from None
