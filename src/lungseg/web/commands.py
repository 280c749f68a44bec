"""``lungseg serve``, ``lungseg worker``, ``lungseg db upgrade`` and ``lungseg admin create``: the web
service's commands. Settings come from ``LUNGSEG_*`` environment variables (``lungseg.web.settings``);
the options here override the most common ones.

Every ``lungseg`` call loads this module (``lungseg --help`` too), so each command imports the web service
it needs inside its function: pydantic-settings, SQLAlchemy, FastAPI, uvicorn and, through the app and the
worker, the inference stack are deferred on purpose, to keep the CLI's start-up light."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lungseg.cli.common import app, console, user_errors

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
DataDir = Annotated[Path | None, typer.Option(help="Where the database and results live (LUNGSEG_DATA_DIR).")]


def _settings(data_dir: Path | None):
    if data_dir is not None:
        os.environ["LUNGSEG_DATA_DIR"] = str(data_dir)
    from lungseg.web.settings import Settings

    return Settings()


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int | None, typer.Option(help="Inline job worker threads (LUNGSEG_WORKERS).")] = None,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Addresses of the TLS-terminating proxy whose X-Forwarded-Proto/For headers are trusted "
            "(comma-separated); never '*' when clients can reach the server directly."
        ),
    ] = "127.0.0.1",
):
    """Run the web service (uvicorn); open the printed address, register and upload a scan."""
    import uvicorn

    if workers is not None:
        os.environ["LUNGSEG_WORKERS"] = str(workers)
    settings = _settings(data_dir)
    os.environ.setdefault("LUNGSEG_THREADS", str(settings.threads_per_job))
    from lungseg.web.app import create_app

    web = create_app(settings)
    console().print(
        f"lungseg web service on http://{host}:{port}  (data: {settings.data_dir.resolve()}, "
        f"database: {settings.resolved_database_url.split('@')[-1]}, jobs: {settings.jobs})"
    )
    uvicorn.run(
        web, host=host, port=port, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, log_level="info"
    )


@app.command()
@user_errors
def worker(data_dir: DataDir = None, threads: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 1):
    """Run queued jobs from the web service's database in this process (more workers, more throughput)."""
    from lungseg.web.worker import run_worker

    run_worker(_settings(data_dir), threads)


@db_app.command("upgrade")
@user_errors
def db_upgrade(data_dir: DataDir = None):
    """Bring the database schema up to date (the server also does this at start)."""
    from lungseg.web import migrate
    from lungseg.web.db import make_engine

    settings = _settings(data_dir)
    migrate.upgrade(make_engine(settings.resolved_database_url))
    console().print("database schema is up to date")


@admin_app.command("create")
@user_errors
def admin_create(email: str, data_dir: DataDir = None):
    """Make a registered user an administrator."""
    from sqlalchemy import select

    from lungseg.web import migrate
    from lungseg.web.db import make_engine, make_session_factory
    from lungseg.web.models import User
    from lungseg.web.schemas import normal_email

    settings = _settings(data_dir)
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    with make_session_factory(engine).begin() as db:
        user = db.scalar(select(User).where(User.email == normal_email(email)))
        if user is None:
            raise ValueError(f"no registered user with email {email!r}; register first")
        user.is_admin = True
    console().print(f"{email} is an administrator")
