"""``create_app`` builds the web service: database (migrated at start), routers, security headers,
upload size limit and credential check, error pages, the staging area (swept at start) and the
background workers.

Run it with ``lungseg serve`` (uvicorn). Result files are served only through the analyses routers,
after the ownership check; ``/static`` holds only the app's own CSS/JS and the vendored viewer.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import HTTPConnection

from lungseg import __version__
from lungseg.web import migrate
from lungseg.web.db import make_engine, make_session_factory
from lungseg.web.deps import SESSION_COOKIE, LoginRequired, credential_valid
from lungseg.web.jobs import InlineWorkers, JobQueue
from lungseg.web.middleware import BodyLimit, SecurityHeaders
from lungseg.web.routers import account, admin, analyses, api, auth, nodules, pages
from lungseg.web.security import LoginLimiter
from lungseg.web.settings import MB, Settings
from lungseg.web.staging import StagingArea
from lungseg.web.templating import render
from lungseg.web.worker import send_job

log = logging.getLogger("lungseg.web")


def create_app(settings: Settings | None = None, start_workers: bool = True) -> FastAPI:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    queue = JobQueue(
        sessions, settings.results_dir, settings.lease_seconds, settings.max_attempts, settings.nodule_model
    )
    staging = StagingArea(settings.staging_dir, settings.max_staging_mb * MB)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        swept = staging.sweep()  # raw files of uploads a crash interrupted
        if swept:
            log.warning("removed %d interrupted upload(s) from the staging folder", swept)
        queue.reap()
        workers = None
        if start_workers and settings.jobs == "inline" and settings.workers:
            workers = InlineWorkers(queue, settings.workers)
            workers.start()
        reaper = _Reaper(queue, settings) if start_workers and settings.jobs == "celery" else None
        yield
        if workers is not None:
            workers.shutdown()
        if reaper is not None:
            reaper.stop.set()
        engine.dispose()

    app = FastAPI(
        title="lungseg",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # pages.api_docs
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings, app.state.engine, app.state.sessions, app.state.queue = settings, engine, sessions, queue
    app.state.staging = staging
    app.state.limiter = LoginLimiter(settings.login_rate)
    app.state.nodule_limiter = LoginLimiter(settings.nodule_rate)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_upload_mb * MB, authenticate=_authenticator(sessions, settings), slack=MB
    )
    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static")
    routers = (pages.router, auth.router, account.router, analyses.router, admin.router, api.router, nodules.router)
    for router in routers:
        app.include_router(router)
    _error_pages(app)
    return app


def _authenticator(sessions, settings: Settings):
    """``BodyLimit``'s check of a request's credential, from its headers alone (off the event loop)."""

    async def authenticate(scope, bearer: bool) -> bool:
        connection = HTTPConnection(scope)
        return await run_in_threadpool(
            credential_valid,
            sessions,
            settings,
            connection.cookies.get(SESSION_COOKIE),
            connection.headers.get("authorization"),
            bearer,
        )

    return authenticate


class _Reaper:
    """With Celery: re-queue expired jobs every lease/3 seconds and send them again."""

    def __init__(self, queue: JobQueue, settings: Settings):
        self.stop = threading.Event()

        def loop():
            while not self.stop.wait(settings.lease_seconds / 3):
                for job_id in queue.reap():
                    send_job(settings, job_id)

        threading.Thread(target=loop, daemon=True).start()


def _error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        message = "Not found." if exc.status_code == 404 else exc.detail
        return render(request, "error.html", status_code=exc.status_code, message=message, code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": problems}, status_code=422)
        return render(request, "error.html", status_code=422, message=f"Invalid form: {problems}")
