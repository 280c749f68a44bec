"""Server-rendered pages (Jinja2, autoescaped): ``render`` adds what every page shows (the user, the
CSRF token for its forms, the screening-only disclaimer and the site's consultation contact)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from lungseg import __version__
from lungseg.screening import DISCLAIMER
from lungseg.web.deps import CSRF_COOKIE, csrf_token_for
from lungseg.web.wording import plain

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
templates.env.filters["plain"] = plain  # the library's messages in the form's words


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    settings = request.app.state.settings
    token = csrf_token_for(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "user": context.pop("user", None),
            "csrf_token": token,
            "disclaimer": DISCLAIMER,
            "version": __version__,
            "contact": {"name": settings.contact_name, "phone": settings.contact_phone, "url": settings.contact_url},
            "limits": {"upload_mb": settings.max_upload_mb, "files": settings.max_upload_files},
            **context,
        },
        status_code=status_code,
    )
    if getattr(request.state, "new_csrf", None):
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return response
