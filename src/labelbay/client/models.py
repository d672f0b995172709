"""The answers of a labelbay server as the client reads them.

Each model names the server schema it reads (`api/schemas.py`, `api/routes/*`) and holds a subset of
its fields; unknown fields are ignored, so a newer server does not break an older client.
`tests/client/test_models.py` checks every field against the server's OpenAPI schema.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Job states after which nothing changes any more (`db.models.JobStatus`).
FINISHED_STATES = frozenset({"completed", "failed", "cancelled"})


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(Answer):
    """`UserOut`."""

    id: int
    email: str
    display_name: str = ""
    is_admin: bool = False


class ProjectLabel(Answer):
    """`LabelOut`: one class of a project's label set."""

    id: int
    name: str
    color: str = ""


class Project(Answer):
    """`ProjectOut`."""

    id: int
    name: str
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: list[ProjectLabel] = Field(default_factory=list)
    role: str
    default_model: str | None = None
    created_at: datetime


class Image(Answer):
    """`ImageOut`."""

    id: uuid.UUID
    project_id: int
    original_filename: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    review_status: str
    created_at: datetime


class ImagePage(Answer):
    """`ImagePage`."""

    images: list[Image]
    next_cursor: str | None = None


class Rejected(Answer):
    """`Rejected`: a file the server did not store, and why."""

    filename: str
    reason: str


class UploadResult(Answer):
    """`UploadResult`: what one upload request stored and refused."""

    images: list[Image]
    rejected: list[Rejected]
    job_id: int | None = None


class ModelInfo(Answer):
    """`ModelOut`: a model a job can name."""

    name: str
    version: str
    task: str
    format: str
    class_names: list[str] = Field(default_factory=list)
    is_active: bool


class Job(Answer):
    """`JobOut`."""

    id: int
    project_id: int
    model: str | None = None  # a label import of people's annotations has none
    model_version: str | None = None
    status: str
    total: int
    done: int
    failed: int
    images_per_second: float | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES

    @property
    def succeeded(self) -> bool:
        """Completed with every image done."""
        return self.status == "completed" and self.failed == 0


class ImportProblem(Answer):
    """`ImportProblem`: a record of a label file that could not be used."""

    place: str
    reason: str


class LabelImportReport(Answer):
    """What a label import did: the answer of a server that imports in the request
    (`LabelImportOut`), or what the client gathers from the finished job of one that runs it as a
    job (its `progress` counts and `report` lists, which may be capped: the counts are whole)."""

    images_in_file: int
    images_matched: int
    added: int
    unchanged: int
    images_added: int = Field(default=0, description="Images that came with the labels, stored")
    problems: list[ImportProblem]
    unmatched: list[str]
    problem_count: int = Field(default=0, description="All the problems (default: as listed)")
    unmatched_count: int = Field(default=0, description="All unmatched (default: as listed)")

    @model_validator(mode="before")
    @classmethod
    def _whole_counts(cls, data: Any) -> Any:
        if isinstance(data, dict):
            listed = {
                "problem_count": len(data.get("problems") or []),
                "unmatched_count": len(data.get("unmatched") or []),
            }
            data = {**listed, **data}
        return data
