"""The administrator's page: the job queue, worker health and accounts (disable/enable). It shows job
states and timings, never other users' images or results."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lungseg.web.deps import admin_user, check_csrf, get_db
from lungseg.web.models import Job, User, utcnow
from lungseg.web.templating import render

router = APIRouter(prefix="/admin", dependencies=[Depends(check_csrf)], include_in_schema=False)


@router.get("")
def admin_page(request: Request, user: User = Depends(admin_user), db: Session = Depends(get_db)):
    counts = dict(db.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    recent = list(db.scalars(select(Job).order_by(Job.created_at.desc()).limit(50)))
    alive = utcnow() - timedelta(seconds=request.app.state.settings.lease_seconds)
    workers = sorted(
        {
            job.worker
            for job in recent
            if job.worker and job.state == "running" and job.heartbeat and job.heartbeat > alive
        }
    )
    users = list(db.scalars(select(User).order_by(User.created_at)))
    return render(
        request,
        "admin.html",
        user=user,
        counts=counts,
        jobs=recent,
        workers=workers,
        users=users,
        settings=request.app.state.settings,
    )


@router.post("/users/{user_id}/toggle")
def toggle_user(user_id: str, user: User = Depends(admin_user), db: Session = Depends(get_db)):
    target = db.get(User, user_id)
    if target is None or target.id == user.id:
        raise HTTPException(404)
    target.is_disabled = not target.is_disabled
    db.commit()
    return RedirectResponse("/admin", status_code=303)
