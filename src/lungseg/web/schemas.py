"""Request and response schemas (pydantic), separate from the database models."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

GENDERS = ("female", "male", "other", "prefer not to say")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254


def normal_email(value: str) -> str:
    """The one form an email address is stored and compared in: Unicode NFKC, then lower-case, without
    surrounding spaces, so "é" typed composed or decomposed (or a full-width letter) is the same address."""
    return unicodedata.normalize("NFKC", value).strip().lower()


class Registration(BaseModel):
    full_name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=MAX_EMAIL)  # and again once normalised (NFKC may lengthen it)
    password: str
    age: int = Field(ge=0, le=130)
    gender: str
    mobile: str

    @field_validator("full_name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("enter your full name")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = normal_email(value)
        if not EMAIL.match(value) or len(value) > MAX_EMAIL:
            raise ValueError("enter a valid email address")
        return value

    @field_validator("gender")
    @classmethod
    def _gender(cls, value: str) -> str:
        if value not in GENDERS:
            raise ValueError(f"choose one of {', '.join(GENDERS)}")
        return value

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str) -> str:
        digits = re.sub(r"[\s().-]", "", value)
        if not re.fullmatch(r"\+?\d{7,15}", digits):
            raise ValueError("enter a mobile number of 7 to 15 digits, optionally starting with +")
        return digits


class AnalysisOptions(BaseModel):
    """Post-processing and test-time augmentation, with the CLI's defaults (``lungseg predict``)."""

    tta: bool = True
    keep_largest: bool = True
    fill_holes: bool = True
    fill_holes_2d: bool = False
    smooth: int = Field(0, ge=0, le=20)


MAX_STUDY_LABEL = 60
STUDY_LABEL = re.compile(r"[\w .,#()/+-]+")


def study_label(value: str | None) -> str | None:
    """The user's own label for the patient or study an upload belongs to ("case 12", "screening pilot
    / B-07"): spaces collapsed, at most ``MAX_STUDY_LABEL`` letters, digits, spaces and ``.,#()/+-_``;
    None when empty. Analyses with one label are one patient's scans: their nodules can be compared, and
    their DICOM dates are shifted by one offset (``service.create_analysis``). ``ValueError`` says what is
    wrong."""
    text = " ".join(unicodedata.normalize("NFKC", value or "").split())
    if not text:
        return None
    if len(text) > MAX_STUDY_LABEL:
        raise ValueError(f"study label: at most {MAX_STUDY_LABEL} characters (got {len(text)})")
    if not STUDY_LABEL.fullmatch(text):
        raise ValueError("study label: use letters, digits, spaces and . , # ( ) / + - _ only")
    return text


class NodulePoint(BaseModel):
    """A voxel of the stored scan: column x, row y, slice z (0 on a 2D upload)."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    z: int = Field(0, ge=0)


class JobStatus(BaseModel):
    state: str
    progress: float
    stage: str
    attempts: int
    error: str | None


class AnalysisOut(BaseModel):
    id: str
    created_at: datetime
    input_name: str
    input_kind: str
    model: str
    study_label: str | None = None
    job: JobStatus
    summary: dict | None = None
    downloads: dict[str, str] = {}


class AnalysisList(BaseModel):
    items: list[AnalysisOut]
    page: int
    pages: int
    total: int
