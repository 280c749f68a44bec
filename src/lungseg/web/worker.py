"""Workers outside the web server.

- ``lungseg worker``: a process that polls the database for queued jobs (``run_worker``), with the
  same claim/lease/reaper rules as the server's inline threads; run as many as the machine allows.
- Celery (``LUNGSEG_JOBS=celery``): ``celery -A lungseg.web.worker worker`` runs ``lungseg.run_job``;
  the web app commits the job row and sends only its id. Acks are late and prefetch is 1, so a job
  whose worker dies is delivered again, and the database claim makes a second delivery a no-op.
"""

from __future__ import annotations

import os
from functools import lru_cache

from lungseg.web import migrate
from lungseg.web.db import make_engine, make_session_factory
from lungseg.web.jobs import InlineWorkers, JobQueue
from lungseg.web.settings import Settings

_queues: dict[str, JobQueue] = {}


def _queue(settings: Settings | None = None) -> JobQueue:
    """This process's job queue on the configured database (migrated on first use)."""
    settings = settings or Settings()
    url = settings.resolved_database_url
    if url not in _queues:
        os.environ.setdefault("LUNGSEG_THREADS", str(settings.threads_per_job))
        engine = make_engine(url)
        migrate.upgrade(engine)
        _queues[url] = JobQueue(
            make_session_factory(engine),
            settings.results_dir,
            settings.lease_seconds,
            settings.max_attempts,
            settings.nodule_model,
        )
    return _queues[url]


def run_worker(settings: Settings, threads: int = 1) -> None:
    """Poll and run jobs until interrupted (Ctrl-C)."""
    workers = InlineWorkers(_queue(settings), threads, kind="worker")
    workers.start()
    try:
        workers.stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        workers.shutdown()


@lru_cache(maxsize=4)
def celery_app(broker_url: str | None = None):
    """The Celery app on ``broker_url`` (default: the settings' ``LUNGSEG_BROKER_URL``)."""
    from celery import Celery

    celery = Celery("lungseg", broker=broker_url or Settings().broker_url)
    celery.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_reject_on_worker_lost=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )

    @celery.task(name="lungseg.run_job")
    def run_job(job_id: str) -> str | None:
        return _queue().run_job(job_id)

    return celery


def send_job(settings: Settings, job_id: str) -> None:
    celery_app(settings.broker_url).send_task("lungseg.run_job", args=[job_id])


def notify_workers(settings: Settings, job_id: str) -> None:
    """After a job row is committed: with Celery, send its id (the workers claim it from the database)."""
    if settings.jobs == "celery":
        send_job(settings, job_id)


def __getattr__(name: str):
    """``app`` is built on first use, so importing this module does not import Celery."""
    if name == "app":
        return celery_app()
    raise AttributeError(name)
