"""Background jobs on the database: the ``jobs`` table is the single source of truth.

- ``claim``: a conditional UPDATE (``... WHERE id = ? AND state = 'queued'``) moves one job to running
  with this worker's name and a lease; only one worker can win it, so a duplicated delivery (Celery
  redelivery, two workers polling) produces one result.
- While a job runs, a heartbeat thread extends the lease every ``lease/3`` seconds and records progress.
- ``reap``: running jobs whose lease expired (their worker was killed) go back to the queue, up to
  ``max_attempts`` attempts, then fail as "interrupted". The server reaps at start and periodically.
- ``run_job``: claim, segment (``results.run_analysis``), then mark done with the summary, or failed
  with the reason (a refused input is not retried). It never raises. A nodule job (``jobs.nodule_id``,
  a point clicked in the viewer) runs ``nodules.run_nodule`` instead and keeps its row on the nodule.
- ``next_queued``: nodule jobs (seconds) before analyses (minutes), each kind oldest first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from lungseg.errors import LungsegError, describe
from lungseg.web import nodules, results
from lungseg.web.models import Job, utcnow

log = logging.getLogger("lungseg.web.jobs")
INTERRUPTED = "interrupted: the worker stopped during the analysis too many times"


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class JobQueue:
    def __init__(
        self,
        sessions: sessionmaker,
        results_dir: Path,
        lease_seconds: int = 120,
        max_attempts: int = 3,
        nodule_model: str = "lung-nodule",
    ):
        self.sessions = sessions
        self.results_dir = results_dir
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.nodule_model = nodule_model

    def next_queued(self) -> str | None:
        with self.sessions() as db:
            return db.scalar(
                select(Job.id)
                .where(Job.state == "queued")
                .order_by(Job.nodule_id.is_(None), Job.created_at)  # False (a nodule job) sorts first
                .limit(1)
            )

    def claim(self, job_id: str, worker: str) -> bool:
        now = utcnow()
        with self.sessions.begin() as db:
            claimed = db.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == "queued")
                .values(
                    state="running",
                    worker=worker,
                    attempts=Job.attempts + 1,
                    lease_expires=now + self.lease,
                    heartbeat=now,
                    started_at=now,
                    stage="starting",
                    error=None,
                )
            ).rowcount
        return claimed == 1

    def heartbeat(self, job_id: str, worker: str, progress: float | None = None, stage: str | None = None) -> bool:
        """Extend the lease (and record progress); False when this worker no longer holds the job."""
        now = utcnow()
        values: dict[str, object] = {"lease_expires": now + self.lease, "heartbeat": now}
        if progress is not None:
            values.update(progress=progress, stage=stage or "")
        with self.sessions.begin() as db:
            return (
                db.execute(
                    update(Job).where(Job.id == job_id, Job.worker == worker, Job.state == "running").values(**values)
                ).rowcount
                == 1
            )

    def finish(self, job_id: str, worker: str, summary: dict | None, error: str | None) -> None:
        with self.sessions.begin() as db:
            job = db.get(Job, job_id)
            if job is None or job.worker != worker or job.state != "running":
                return  # deleted meanwhile, or reaped and taken by another worker
            job.state, job.finished_at, job.lease_expires = ("failed" if error else "done"), utcnow(), None
            job.error, job.progress, job.stage = (
                error,
                (job.progress if error else 1.0),
                ("failed" if error else "done"),
            )
            if job.nodule is not None:
                job.nodule.result = summary
            elif job.analysis is not None:
                job.analysis.summary = summary

    def reap(self) -> list[str]:
        """Re-queue running jobs with an expired lease (or fail them after too many attempts); returns
        the ids put back in the queue."""
        now, requeued = utcnow(), []
        with self.sessions.begin() as db:
            for job in db.scalars(select(Job).where(Job.state == "running", Job.lease_expires < now)):
                if job.attempts >= self.max_attempts:
                    job.state, job.error, job.finished_at, job.stage = "failed", INTERRUPTED, now, "failed"
                else:
                    job.state, job.worker, job.stage, job.lease_expires = "queued", None, "waiting for a worker", None
                    requeued.append(job.id)
                log.warning("job %s: lease expired (attempt %d), %s", job.id, job.attempts, job.state)
        return requeued

    def run_job(self, job_id: str, worker: str | None = None) -> str | None:
        """Claim and run one job; returns its final state, or None when it was not claimable."""
        worker = worker or worker_name("worker")
        if not self.claim(job_id, worker):
            return None
        with self.sessions() as db:
            job = db.get(Job, job_id)
            if job is None:  # the analysis (or nodule) was deleted between the claim and now
                return None
            analysis = job.nodule.analysis if job.nodule is not None else job.analysis
            if analysis is None:
                return None
            folder = results.analysis_dir(self.results_dir, analysis.user_id, analysis.id)
            input_path = folder / "input" / analysis.options["input"]
            model, options = analysis.model, dict(analysis.options.get("postprocess") or {})
            nodule = (job.nodule.id, (job.nodule.x, job.nodule.y, job.nodule.z)) if job.nodule is not None else None
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job_id, worker, stop), daemon=True)
        beat.start()
        summary, error = None, None
        try:
            if nodule is not None:
                self._progress(job_id, worker, 0.1, "measuring the nodule")
                summary = nodules.run_nodule(folder, input_path, nodule[0], nodule[1], self.nodule_model)
            else:
                summary = results.run_analysis(
                    folder, input_path, model, lambda p, s: self._progress(job_id, worker, p, s), options
                )
        except LungsegError as exc:
            error = results.scrub(str(exc), folder)
        except MemoryError:
            error = "not enough memory for this scan"
        except Exception as exc:  # a job must end in a state, never vanish; the log has the details
            log.exception("job %s failed", job_id)
            error = results.scrub(f"internal error ({type(exc).__name__}: {describe(exc)})", folder)
        finally:
            stop.set()
            beat.join()
        for attempt in range(5):  # the result is on disk: record it even if the database is briefly busy
            try:
                self.finish(job_id, worker, summary, error)
                break
            except Exception:
                log.warning("job %s: could not record the outcome (attempt %d)", job_id, attempt + 1)
                time.sleep(2**attempt)
        return "failed" if error else "done"

    def _progress(self, job_id: str, worker: str, progress: float, stage: str) -> None:
        """Record progress; a database hiccup must not fail the job (the next beat retries)."""
        try:
            self.heartbeat(job_id, worker, progress, stage)
        except Exception:
            log.warning("job %s: progress not recorded (database busy)", job_id)

    def _beat(self, job_id: str, worker: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease.total_seconds() / 3):
            try:
                if not self.heartbeat(job_id, worker):
                    return
            except Exception:  # retried at the next beat, well within the lease
                log.warning("job %s: heartbeat not recorded (database busy)", job_id)


class InlineWorkers:
    """Worker threads inside one process: reap, claim the oldest queued job, run it; poll every second."""

    def __init__(self, queue: JobQueue, count: int, kind: str = "inline", poll_seconds: float = 1.0):
        self.queue, self.count, self.kind, self.poll = queue, count, kind, poll_seconds
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.count):
            thread = threading.Thread(target=self._loop, name=f"lungseg-worker-{index}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)

    def _loop(self) -> None:
        name = worker_name(self.kind)
        while not self.stop.is_set():
            try:
                self.queue.reap()
                job_id = self.queue.next_queued()
                if job_id is None or self.queue.run_job(job_id, name) is None:
                    self.stop.wait(self.poll)
            except Exception:  # the database may be briefly unavailable; keep polling
                log.exception("worker loop")
                self.stop.wait(self.poll * 5)
