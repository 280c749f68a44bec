"""The public home page and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from lungseg.web.deps import get_db, optional_user
from lungseg.web.models import User
from lungseg.web.service import shipped_model_names
from lungseg.web.templating import render, templates

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(request: Request, user: User | None = Depends(optional_user)):
    return render(request, "home.html", user=user, models=shipped_model_names())


@router.get("/api/docs", include_in_schema=False)
def api_docs(request: Request):
    """Swagger UI from the vendored files (FastAPI's default page loads a CDN and an inline script)."""
    return templates.TemplateResponse(request, "api_docs.html", {})


@router.get("/healthz", include_in_schema=False)
def health(db: Session = Depends(get_db)):
    db.execute(text("SELECT 1"))
    return {"status": "ok"}
