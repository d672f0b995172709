"""Request and response bodies of the analyses API (the old Image Project Manager's field names)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from labelbay.db.models import Analysis, AnalysisAnnotation, AnalysisArtifact, AnalysisStatus
from labelbay.security.freejson import FreeJSON


class AnalysisCreate(BaseModel):
    image_id: uuid.UUID | None = Field(
        default=None, description="Optional; when given it must match the path."
    )
    model_name: str = Field(min_length=1, max_length=100)
    model_version: str = Field(default="", max_length=50)
    parameters: FreeJSON = Field(default_factory=dict)


class StatusIn(BaseModel):
    status: AnalysisStatus


class PresignIn(BaseModel):
    artifact_type: str = Field(min_length=1, max_length=50)
    filename: str = Field(min_length=1, max_length=255)


class PresignOut(BaseModel):
    artifact_id: int
    upload_url: str = Field(description="PUT the file's bytes here, before `expires_at`.")
    method: Literal["PUT"] = "PUT"
    storage_path: str = Field(description="Cite this in annotations (e.g. a heatmap's).")
    content_type: str
    max_bytes: int
    expires_at: datetime


class AnnotationIn(BaseModel):
    annotation_type: str = Field(max_length=50)
    class_name: str | None = Field(default=None, max_length=200)
    confidence: float | None = None
    data: FreeJSON = Field(default_factory=dict)
    storage_path: str | None = Field(default=None, max_length=512)


class BulkAnnotationsIn(BaseModel):
    annotations: list[AnnotationIn]


class BulkAnnotationsOut(BaseModel):
    created: int
    annotation_ids: list[int]


class FinalizeIn(BaseModel):
    status: Literal["completed", "failed"]
    error: str | None = Field(default=None, max_length=10_000)


class AnnotationOut(BaseModel):
    id: int
    annotation_type: str
    class_name: str | None
    confidence: float | None
    data: dict[str, Any]
    storage_path: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: AnalysisAnnotation) -> AnnotationOut:
        return cls(
            id=row.id,
            annotation_type=row.annotation_type,
            class_name=row.class_name,
            confidence=row.confidence,
            data=row.data,
            storage_path=row.storage_path,
            created_at=row.created_at,
        )


class ArtifactOut(BaseModel):
    id: int
    artifact_type: str
    filename: str
    storage_path: str
    content_type: str
    size_bytes: int | None
    verified: bool = Field(description="Uploaded and checked when the analysis was completed.")
    url: str | None = Field(description="A short-lived download link.")

    @classmethod
    def of(cls, row: AnalysisArtifact, url: str | None) -> ArtifactOut:
        return cls(
            id=row.id,
            artifact_type=row.artifact_type,
            filename=row.filename,
            storage_path=row.storage_path,
            content_type=row.content_type,
            size_bytes=row.size_bytes,
            verified=row.verified_at is not None,
            url=url,
        )


class AnalysisOut(BaseModel):
    id: uuid.UUID
    image_id: uuid.UUID
    image_width: int
    image_height: int
    model_name: str
    model_version: str
    parameters: dict[str, Any]
    status: AnalysisStatus
    error: str | None
    source: Literal["pipeline", "user"]
    created_by_id: int | None
    annotation_count: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Analysis, *, annotation_count: int) -> AnalysisOut:
        return cls(
            id=row.id,
            image_id=row.image_id,
            image_width=row.image.width,
            image_height=row.image.height,
            model_name=row.model_name,
            model_version=row.model_version,
            parameters=row.parameters,
            status=AnalysisStatus(row.status),
            error=row.error,
            source="pipeline" if row.created_by_id is None else "user",
            created_by_id=row.created_by_id,
            annotation_count=annotation_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


class AnalysisDetail(AnalysisOut):
    annotations: list[AnnotationOut]
    artifacts: list[ArtifactOut]


class AnalysisList(BaseModel):
    analyses: list[AnalysisOut]
