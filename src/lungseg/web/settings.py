"""One settings class for the web service, read from ``LUNGSEG_*`` environment variables (or a ``.env``).

``data_dir`` holds everything the service writes: the SQLite database (default), the generated secret
key, per-user, per-analysis result folders and the staging folder of uploads being checked.
``database_url`` selects SQLite (default, WAL mode), MariaDB/MySQL (``mysql+pymysql://...``) or
PostgreSQL (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1 << 20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUNGSEG_", env_file=".env", extra="ignore")

    data_dir: Path = Path("lungseg-data")
    database_url: str | None = None
    secret_key: str | None = None
    jobs: Literal["inline", "celery", "none"] = "inline"  # none: only `lungseg worker` processes run jobs
    workers: int = Field(1, ge=0, le=64)  # inline worker threads in the server
    broker_url: str = "redis://127.0.0.1:6379/0"
    threads_per_job: int = Field(1, ge=1, le=64)  # ONNX Runtime threads of one running job
    lease_seconds: int = Field(120, ge=10)
    max_attempts: int = Field(3, ge=1)
    max_upload_mb: int = Field(1024, ge=1)
    max_upload_files: int = Field(2000, ge=1)
    max_uncompressed_mb: int = Field(2048, ge=1)
    max_staging_mb: int = Field(4096, ge=1)  # all uploads being checked at once (one process)
    session_idle_minutes: int = Field(60, ge=1)
    session_absolute_hours: int = Field(12, ge=1)
    login_rate: str = "20/15 minutes"  # failures per address; attempts per account
    page_size: int = Field(20, ge=1, le=200)
    nodule_model: str = "lung-nodule"  # the seeded nodule model of the viewer's Nodule mode (name or file)
    nodule_rate: str = "30/minute"  # nodule clicks per user (moving window)
    max_nodules: int = Field(50, ge=1, le=1000)  # nodules per analysis
    admin_sees_images: bool = False
    contact_name: str = "your radiology department"
    contact_phone: str | None = None
    contact_url: str | None = None

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lungseg.db').resolve()}"

    @cached_property
    def key(self) -> str:
        """The secret key: the setting, else one generated on first start and kept in DATA_DIR/secret_key
        (mode 0600), so sessions survive a restart."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "analyses"

    @property
    def staging_dir(self) -> Path:
        """Raw uploads until they are de-identified and accepted (``lungseg.web.staging``)."""
        return self.data_dir / "staging"
