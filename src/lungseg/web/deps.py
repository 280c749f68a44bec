"""Request dependencies in one place: settings, database session, the signed-in user (session cookie
for pages, personal access token for the API), CSRF, and the 404 ownership rule.

Sessions: the cookie holds a random token; the database holds its SHA-256, the user and a CSRF token.
A session ends after ``session_idle_minutes`` without a request or ``session_absolute_hours`` after
login, at logout and at a password change. CSRF: every state-changing form carries the session's
token (or, before login, the value of a random ``lungseg_csrf`` cookie), and the request's Origin (or
Referer) must be this site.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from lungseg.web.models import AccessToken, Analysis, User, UserSession, utcnow
from lungseg.web.security import new_token, same_secret, token_hash
from lungseg.web.settings import Settings

SESSION_COOKIE = "lungseg_session"
CSRF_COOKIE = "lungseg_csrf"


class LoginRequired(Exception):
    """A page needs a signed-in user: the app answers with a redirect to the login page."""


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        yield db


def current_session(request: Request, db: Session = Depends(get_db)) -> UserSession | None:
    """The live session of the cookie (its user enabled), else None; expired sessions are deleted."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    session = db.get(UserSession, token_hash(token))
    if session is None:
        return None
    settings, now = get_settings(request), utcnow()
    if not session_alive(db, session, settings, now):
        db.delete(session)
        db.commit()
        return None
    if now - session.last_seen > timedelta(seconds=30):
        session.last_seen = now
    db.commit()  # end the read transaction: a long request (an upload's screen) holds no connection
    request.state.session = session
    return session


def session_alive(db: Session, session: UserSession, settings: Settings, now: datetime) -> bool:
    """True while the session's user is enabled and neither the idle time nor the absolute lifetime passed."""
    user = db.get(User, session.user_id)
    return not (
        user is None
        or user.is_disabled
        or now - session.last_seen > timedelta(minutes=settings.session_idle_minutes)
        or now - session.created_at > timedelta(hours=settings.session_absolute_hours)
    )


def token_owner(db: Session, authorization: str) -> tuple[AccessToken, User] | None:
    """The access token of an ``Authorization: Bearer <token>`` header and its enabled owner, else None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    access = db.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash(token.strip())))
    if access is None:
        return None
    user = db.get(User, access.user_id)
    if user is None or user.is_disabled:
        return None
    return access, user


def credential_valid(
    sessions: sessionmaker, settings: Settings, cookie: str | None, authorization: str | None, bearer: bool
) -> bool:
    """Whether a request carries a live credential, checked from its headers alone (``middleware.BodyLimit``
    calls it before reading an upload's body): the session cookie, or with ``bearer`` an access token.
    Nothing is changed: the route's own dependency then records the use."""
    with sessions() as db:
        if bearer:
            return authorization is not None and token_owner(db, authorization) is not None
        session = db.get(UserSession, token_hash(cookie)) if cookie else None
        return session is not None and session_alive(db, session, settings, utcnow())


def optional_user(session: UserSession | None = Depends(current_session), db: Session = Depends(get_db)) -> User | None:
    user = db.get(User, session.user_id) if session is not None else None
    db.commit()
    return user


def page_user(user: User | None = Depends(optional_user)) -> User:
    if user is None:
        raise LoginRequired()
    return user


def session_user(user: User | None = Depends(optional_user)) -> User:
    """The signed-in user of a JSON route the site's own pages call (401, not a redirect, otherwise)."""
    if user is None:
        raise HTTPException(401, "sign in first (the session has ended)")
    return user


def admin_user(user: User = Depends(page_user)) -> User:
    if not user.is_admin:
        raise HTTPException(404)
    return user


def api_user(request: Request, db: Session = Depends(get_db)) -> User:
    """The owner of the ``Authorization: Bearer <token>`` personal access token (401 otherwise)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "a personal access token is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = token_owner(db, header)
    if found is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    access, user = found
    access.last_used = utcnow()
    db.commit()
    return user


def owned_analysis(analysis_id: str, user: User, db: Session, admin_may_view: bool = False) -> Analysis:
    """The user's analysis, else 404 (whether it exists for someone else is not revealed). With
    ``admin_may_view`` (read-only routes, when the site setting ``admin_sees_images`` is on) an
    administrator may open anyone's."""
    analysis = db.get(Analysis, analysis_id)
    if analysis is None or (analysis.user_id != user.id and not (admin_may_view and user.is_admin)):
        raise HTTPException(404)
    return analysis


def csrf_token_for(request: Request) -> str:
    """The token forms on this page must carry: the session's, or the pre-login cookie's (set if new)."""
    session = getattr(request.state, "session", None)
    if session is not None:
        return session.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if token is None:
        token = request.state.new_csrf = new_token()
    return token


async def check_csrf(request: Request, session: UserSession | None = Depends(current_session)) -> None:
    """Refuse (403) a state-changing request without this site's Origin and the matching token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    expected = f"{request.url.scheme}://{request.url.netloc}"
    if not origin or "{0.scheme}://{0.netloc}".format(urlsplit(origin)) != expected:
        raise HTTPException(403, "cross-site request refused (Origin does not match this site)")
    form = await read_form(request)
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token")
    wanted = session.csrf_token if session is not None else request.cookies.get(CSRF_COOKIE)
    if not same_secret(str(sent) if sent else None, wanted):
        raise HTTPException(403, "the form has expired or is not from this site; reload the page and try again")


FORM_FIELDS = 50  # non-file fields of any form (the upload form has about ten)
FORM_FIELD_BYTES = 64 << 10


async def read_form(request: Request) -> FormData:
    """The request's form, parsed (once: Starlette keeps it on the request) with the site's limits:
    ``max_upload_files`` files, ``FORM_FIELDS`` fields; beyond them 413 with a plain message."""
    settings = get_settings(request)
    try:
        return await request.form(
            max_files=settings.max_upload_files, max_fields=FORM_FIELDS, max_part_size=FORM_FIELD_BYTES
        )
    except StarletteHTTPException as error:
        detail = str(error.detail)
        if detail.startswith("Too many files"):
            raise HTTPException(
                413,
                f"too many files: at most {settings.max_upload_files} per upload "
                "(send a .zip of the series, which counts as one)",
            ) from error
        if detail.startswith("Too many fields"):
            raise HTTPException(413, f"too many form fields: at most {FORM_FIELDS}") from error
        raise


class FormLimitedRoute(APIRoute):
    """A route whose form is read by ``read_form`` before FastAPI reads it for the parameters (FastAPI
    would apply Starlette's defaults, 1000 files and 1000 fields, whatever the settings say; the form
    is parsed once, so FastAPI then gets this one)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            if request.method == "POST":
                await read_form(request)
            return await handler(request)

        return limited
