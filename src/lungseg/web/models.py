"""Database tables (SQLAlchemy 2 declarative). Identifiers are random UUIDs; secrets (session and access
tokens) are stored only as SHA-256 hashes; passwords only as argon2id hashes.

The ``jobs`` table is the single source of truth for background work: state (queued, running, done,
failed), attempts, progress, the worker's lease and heartbeat, the error message and timings. A job is
either an analysis's segmentation (``analysis_id``, one per analysis) or a nodule measured at a point the
user clicked in the viewer (``nodule_id``, one per row of ``nodules``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC: the same on SQLite, MariaDB and PostgreSQL


class Base(DeclarativeBase):
    pass


FIRST_ADMIN = 1


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)  # schemas.normal_email
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    age: Mapped[int] = mapped_column(Integer)
    gender: Mapped[str] = mapped_column(String(32))
    mobile: Mapped[str] = mapped_column(String(32))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # FIRST_ADMIN on the site's first administrator, NULL on every other account: the unique index lets
    # only one of simultaneous first registrations have it (service.register_user)
    first_admin: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True, index=True)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    analyses: Mapped[list[Analysis]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class UserSession(Base):
    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AccessToken(Base):
    __tablename__ = "access_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Analysis(Base):
    __tablename__ = "analyses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    input_name: Mapped[str] = mapped_column(String(255))
    input_kind: Mapped[str] = mapped_column(String(20))  # dicom-series | volume | slice
    model: Mapped[str] = mapped_column(String(100))
    # the user's label of the patient or study (schemas.study_label); one label: one patient's scans
    study_label: Mapped[str | None] = mapped_column(String(60), nullable=True, index=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # volumes, quality, findings (when done)

    user: Mapped[User] = relationship(back_populates="analyses")
    job: Mapped[Job] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )
    nodules: Mapped[list[Nodule]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", passive_deletes=True, order_by="Nodule.created_at"
    )


class Nodule(Base):
    """A point the user clicked (voxel indices x, y, z of the analysis's stored scan) and, once its job is
    done, the nodule measured there (``result``: ``NoduleResult.to_dict()``; its mask is a file in the
    analysis folder, ``web.nodules``)."""

    __tablename__ = "nodules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    analysis_id: Mapped[str] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    z: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    analysis: Mapped[Analysis] = relationship(back_populates="nodules")
    job: Mapped[Job] = relationship(
        back_populates="nodule", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # one of the two: an analysis's segmentation, or a nodule at a clicked point
    analysis_id: Mapped[str | None] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    nodule_id: Mapped[str | None] = mapped_column(
        ForeignKey("nodules.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)  # queued running done failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(60), default="waiting for a worker")
    worker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    analysis: Mapped[Analysis | None] = relationship(back_populates="job")
    nodule: Mapped[Nodule | None] = relationship(back_populates="job")
