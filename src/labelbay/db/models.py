"""ORM models. SQL stores object keys and metadata, never image bytes or storage credentials.

Tables for model versions, jobs, predictions and analyses come with their issues, as new migrations.
"""

from __future__ import annotations

import enum
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    cast,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from labelbay.db.base import Base, JSONType, UTCDateTime, utcnow, uuid7


def new_callback_secret() -> str:
    return secrets.token_hex(32)


class Role(enum.StrEnum):
    """Project roles, weakest first; a role can do everything the ones before it can."""

    viewer = "viewer"
    annotator = "annotator"
    manager = "manager"
    owner = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiKey(Base):
    """A personal API key for programs. Only a SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class Project(TimestampMixin, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A model (name) run on every upload, as the circular-detection backend did; None: none.
    default_model: Mapped[str | None] = mapped_column(String(100))
    # Signs job callbacks (X-Signature-256); generated with the project, shown to managers.
    callback_secret: Mapped[str] = mapped_column(String(64), default=new_callback_secret)
    # How many distinct people label each image (the review queue's `annotate` mode assigns it).
    annotators_per_image: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    labels: Mapped[list[Label]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Label.id"
    )


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()


class Label(Base):
    """One entry of a project's label set (classes for boxes and image classification)."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_labels_project_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(Text, default="")

    project: Mapped[Project] = relationship(back_populates="labels")


class Image(TimestampMixin, Base):
    __tablename__ = "images"
    __table_args__ = (
        Index("ix_images_project_id_id", "project_id", "id"),
        Index("ix_images_project_id_sha256", "project_id", "sha256"),
        Index("ix_images_project_id_original_filename", "project_id", "original_filename"),
        # One image per imported object: a re-run of an import can never add it twice.
        Index("ix_images_project_id_source_url", "project_id", "source_url", unique=True),
        Index("ix_images_lease_user_id_project_id", "lease_user_id", "project_id"),
        # The review queue's walk in upload order within one state: reviewed images are not
        # visited (and other projects' rows not filtered) to find the next unreviewed one.
        Index("ix_images_project_id_review_status_id", "project_id", "review_status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    original_filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(512), unique=True)
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Review state of the image as a whole: "unreviewed" until a person marks it "reviewed"
    # (accepted) or "rejected" (needs a fix; the reason is in its review events).
    review_status: Mapped[str] = mapped_column(
        String(20), default="unreviewed", server_default="unreviewed"
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Imported images: the object they came from (`s3://bucket/key?...`, `file:///...`) and its
    # ETag when imported. `external`: reference mode, the bytes stay at `source_url` and
    # `storage_key` only names where rendered outputs go.
    source_url: Mapped[str | None] = mapped_column(String(1024))
    source_etag: Mapped[str | None] = mapped_column(String(200))
    external: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The review queue's lease: who holds the image ("in review") until when, since when.
    lease_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Each image's place on the seeded random review queue's ring: md5 of its id as 32 hex digits.
# Indexed on PostgreSQL within a project's state, so the queue walks the ring from the seed's
# point instead of sorting the project; SQLite's md5 is labelbay's own function, which another
# program opening the file would not have, so it gets no index there (and embedded projects sort).
IMAGE_RING_KEY = func.md5(func.replace(cast(Image.id, String), "-", ""))
Index(
    "ix_images_project_id_review_status_ring",
    Image.project_id,
    Image.review_status,
    IMAGE_RING_KEY,
).ddl_if(dialect="postgresql")


class ImportSource(Base):
    """A bucket prefix or folder imported into a project, and how far its imports have got."""

    __tablename__ = "import_sources"
    __table_args__ = (UniqueConstraint("project_id", "url", name="uq_import_sources_project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(1024))
    mode: Mapped[str] = mapped_column(String(20))
    # Newest last-modified time among the objects imported so far (the cursor's high-water mark).
    cursor_last_modified: Mapped[datetime | None] = mapped_column(UTCDateTime())
    runs: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_image_id_id", "image_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship()


class ModelVersion(Base):
    """One registered version of a model. Its artifact lives in the `models` storage location."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
        Index("ix_model_versions_name_is_active", "name", "is_active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    task: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(40))
    artifact_key: Mapped[str | None] = mapped_column(String(512))
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    artifact_size: Mapped[int | None] = mapped_column(BigInteger)
    url: Mapped[str | None] = mapped_column(String(1000))
    class_names: Mapped[list[str]] = mapped_column(JSONType, default=list)
    input_width: Mapped[int | None] = mapped_column(Integer)
    input_height: Mapped[int | None] = mapped_column(Integer)
    confidence_threshold: Mapped[float] = mapped_column(Float, default=0.25)
    iou_threshold: Mapped[float] = mapped_column(Float, default=0.45)
    max_detections: Mapped[int] = mapped_column(Integer, default=300)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnalysisStatus(enum.StrEnum):
    """Where an ML analysis is; it only ever moves forward (see `analyses.service.NEXT_STATUS`)."""

    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"


class Analysis(TimestampMixin, Base):
    """One run of an external ML pipeline over one image, posted back through the analyses API."""

    __tablename__ = "ml_analyses"
    __table_args__ = (Index("ix_ml_analyses_image_id_id", "image_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(50))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=AnalysisStatus.queued.value)
    error: Mapped[str | None] = mapped_column(Text)
    # None when a pipeline created it (HMAC-signed), else the manager who did.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    image: Mapped[Image] = relationship()
    annotations: Mapped[list[AnalysisAnnotation]] = relationship(
        back_populates="analysis",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="AnalysisAnnotation.id",
    )
    artifacts: Mapped[list[AnalysisArtifact]] = relationship(
        back_populates="analysis",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="AnalysisArtifact.id",
    )


class AnalysisAnnotation(Base):
    """One result of an analysis (a box, a polygon, a heatmap reference, a class, ...).

    `data` is kept as the pipeline posted it, so exports give back exactly what was sent;
    `label` is the same annotation as a `labelbay.labels.Label` (JSON form), for the kinds the
    label model has (box, polygon, circle, classification), else null (heatmaps, keypoints).
    """

    __tablename__ = "ml_analysis_annotations"
    __table_args__ = (Index("ix_ml_analysis_annotations_analysis_id_id", "analysis_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ml_analyses.id", ondelete="CASCADE"))
    annotation_type: Mapped[str] = mapped_column(String(20))
    class_name: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    label: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    storage_path: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    analysis: Mapped[Analysis] = relationship(back_populates="annotations")


class AnalysisArtifact(Base):
    """A file a pipeline uploads for an analysis, in the `artifacts` location under
    `storage_path`. The row exists from the presign on; size and type are checked at finalize."""

    __tablename__ = "ml_analysis_artifacts"
    __table_args__ = (
        UniqueConstraint("storage_path", name="uq_ml_analysis_artifacts_storage_path"),
        Index("ix_ml_analysis_artifacts_analysis_id", "analysis_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ml_analyses.id", ondelete="CASCADE"))
    artifact_type: Mapped[str] = mapped_column(String(50))
    filename: Mapped[str] = mapped_column(String(255))
    storage_path: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    analysis: Mapped[Analysis] = relationship(back_populates="artifacts")


class SignatureNonce(Base):
    """A pipeline request signature already accepted; refusing it again stops replays.

    Rows older than the signature window are useless (the timestamp check refuses those requests
    anyway) and are pruned as new ones arrive.
    """

    __tablename__ = "ml_signature_nonces"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class TaskStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class JobKind(enum.StrEnum):
    inference = "inference"  # a model over images, one task row per image
    label_import = "label_import"  # another tool's labels read onto the project, one unit of work


class Job(Base):
    """A model run over a selection of a project's images, or a label import. The row is the
    truth; queue messages carry only task ids (a label import's message: its job id)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        String(20), default=JobKind.inference.value, server_default=JobKind.inference.value
    )
    # None only for a label import of people's annotations.
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued.value)
    selection: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    stage_ms: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    callback_status: Mapped[str | None] = mapped_column(String(20))
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A label import's counts while it runs, and its report (problems, unmatched names) at the end.
    progress: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict, server_default="{}")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # A label import's outbox mark (a model job's tasks carry their own): NULL until its message
    # was handed to the executor; the dispatcher publishes those left NULL.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    model_version: Mapped[ModelVersion | None] = relationship()


class JobTask(Base):
    """One image of a job. Claimed, processed and marked done idempotently: running it twice
    writes the same prediction and the same objects."""

    __tablename__ = "job_tasks"
    __table_args__ = (
        UniqueConstraint("job_id", "image_id", name="uq_job_tasks_job_id_image_id"),
        Index("ix_job_tasks_job_id_status", "job_id", "status"),
        Index("ix_job_tasks_status_published_at", "status", "published_at"),
        Index("ix_job_tasks_status_lease_until", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.queued.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The outbox: NULL until a message about this task reached the executor (the broker); the
    # dispatcher publishes queued tasks without one (`jobs/dispatch.py`).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While running: renewed by the worker's heartbeat; once past, the sweeper re-queues the task.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Prediction(TimestampMixin, Base):
    """What one model version found in one image; one row per (image, model version), so
    re-running a model overwrites instead of duplicating."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint(
            "image_id", "model_version_id", name="uq_predictions_image_id_model_version_id"
        ),
        Index("ix_predictions_model_version_id", "model_version_id"),
        # The `uncertain` review queue walks this index backwards within one review state, so
        # images already reviewed are never visited.
        Index(
            "ix_predictions_model_version_id_image_status_uncertainty",
            "model_version_id",
            "image_status",
            "uncertainty",
            "image_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # One `labelbay.labels.Label` (JSON form) per detection, fitted to the image.
    detections: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    num_detections: Mapped[int] = mapped_column(Integer, default=0)
    # Reviewers' verdicts on single detections: {"<index>": "accepted" | "rejected"}.
    review: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict, server_default="{}")
    processing_time_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # `labels.uncertainty` of the detections, set whenever they are written; None: no labels.
    uncertainty: Mapped[float | None] = mapped_column(Float)
    # A copy of the image's `review_status` for the review queue's index; written only by
    # `services.review.change_review_status` and, for a new row, from the image.
    image_status: Mapped[str] = mapped_column(
        String(20), default="unreviewed", server_default="unreviewed"
    )


class Annotation(TimestampMixin, Base):
    """A label a person made or accepted: a box, circle, polygon, text line, or the image's class.

    The columns are the fields of a `labelbay.labels.Label` (`services.annotations.label_of`
    reads one back): `geometry` in its JSON form by kind, pixels of the original image.
    """

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_image_id_id", "image_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # "human", or "prediction" when accepted from a model's detection (then the model is named).
    source: Mapped[str] = mapped_column(String(20), default="human")
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    confidence: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    top_k: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, server_default="{}")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Evaluation(Base):
    """A model version's labels judged against ground truth over a selection of a project's
    images: people's annotations (reviewed images, or all), or another model version's labels.
    `metrics` holds the whole report (`labelbay.evaluation`), per image counts are in
    `evaluation_images`."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    # "reviewed" (annotations of reviewed images), "annotations" (all), or "model"
    ground_truth: Mapped[str] = mapped_column(String(20))
    gt_model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    selection: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    iou_threshold: Mapped[float] = mapped_column(Float, default=0.5)
    score_threshold: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    # while running: "reading" the labels, "matching" them, "storing" the results
    phase: Mapped[str | None] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0…1 over the whole run
    kind: Mapped[str | None] = mapped_column(String(20))  # detection | classification
    images: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The outbox mark: NULL until the evaluation's message was handed over (the dispatcher
    # publishes those left NULL).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    model_version: Mapped[ModelVersion] = relationship(foreign_keys=[model_version_id])
    gt_model_version: Mapped[ModelVersion | None] = relationship(foreign_keys=[gt_model_version_id])


class EvaluationImage(Base):
    """One image's outcome in an evaluation: true and false positives and missed ground truth
    (at the evaluation's IoU and score thresholds), and which label was which, so the grid can
    select "missed something" or "false positives" and the image view can colour each label."""

    __tablename__ = "evaluation_images"
    __table_args__ = (
        Index("ix_evaluation_images_evaluation_id_fn", "evaluation_id", "fn"),
        Index("ix_evaluation_images_evaluation_id_fp", "evaluation_id", "fp"),
        # The `likely-errors` review queue walks this index backwards.
        Index(
            "ix_evaluation_images_evaluation_id_errors",
            "evaluation_id",
            "errors",
            "image_id",
        ),
    )

    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tp: Mapped[int] = mapped_column(Integer, default=0)
    fp: Mapped[int] = mapped_column(Integer, default=0)
    fn: Mapped[int] = mapped_column(Integer, default=0)
    # Kept by the database: the `likely-errors` queue's order, in an index.
    errors: Mapped[int] = mapped_column(Integer, Computed("fp + fn", persisted=True))
    # {"predictions": {"<detection index>": "tp" | "fp"}, "missed": [ground-truth refs]}: a
    # ref is an annotation id, or a detection index when the ground truth is a model's labels
    outcomes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ReviewEvent(Base):
    """One step of an image's review, by whom and when. Append-only: no code path updates or
    deletes a row, and database triggers refuse it (a delete only cascades from its image)."""

    __tablename__ = "review_events"
    __table_args__ = (
        Index("ix_review_events_image_id_id", "image_id", "id"),
        Index("ix_review_events_project_id_user_id", "project_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    image_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # claim | release | accept | reject | accept_predictions | correct | consensus_accept
    action: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    # Seconds from the lease's start to this verdict (accept/reject under a lease), else None.
    duration_s: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelDisagreement(Base):
    """How much two model versions disagree on an image: 1 - F1 of their IoU-matched labels.
    One row per image and ordered pair (a < b), written by `services.review.compute_disagreement`."""

    __tablename__ = "model_disagreements"
    __table_args__ = (
        # The `disagreement` review queue walks this index backwards within one review state.
        Index(
            "ix_model_disagreements_pair_image_status_disagreement",
            "model_version_a_id",
            "model_version_b_id",
            "image_status",
            "disagreement",
            "image_id",
        ),
        # A review state change updates the image's rows (`services.review.change_review_status`).
        Index("ix_model_disagreements_image_id", "image_id"),
    )

    model_version_a_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_b_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    disagreement: Mapped[float] = mapped_column(Float)
    # A copy of the image's `review_status`, as on `Prediction.image_status`.
    image_status: Mapped[str] = mapped_column(
        String(20), default="unreviewed", server_default="unreviewed"
    )


class EvaluationCell(Base):
    """How many of an image's boxes fell in one cell of its evaluation's confusion matrix, so the
    grid can select the images behind a cell (or a class) in SQL. Classes are the indices of the
    report's `confusion` labels; the last one is background (classification: "none")."""

    __tablename__ = "evaluation_cells"
    __table_args__ = (
        Index("ix_evaluation_cells_evaluation_id_pred_class", "evaluation_id", "pred_class"),
    )

    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    gt_class: Mapped[int] = mapped_column(Integer, primary_key=True)
    pred_class: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    count: Mapped[int] = mapped_column(Integer, default=0)


class ProjectCount(Base):
    """A part of one of the dashboard's figures, kept by triggers (migration 0017) wherever
    images, predictions and annotations are written, so that reading a figure never walks the
    rows. A figure is the sum of `n` over `slot`s: on PostgreSQL each database backend adds to
    its own rows (two transactions never wait on one), on SQLite the slot is 0. The dispatcher
    folds the rows of ended connections into slot 0 every minute (`services.stats.fold_counts`).

    `name` says what is counted and what `key` holds: "images" (key: review status),
    "reviewer" (reviewed images, key: the reviewer's user id), "model_images" and
    "model_labels" (prediction rows and their labels, key: model version id), "predicted"
    (labels of one class, key: "<model version id>:<label>"), "annotated" (annotations, key:
    "<UTC day YYYY-MM-DD> <label>")."""

    __tablename__ = "project_counts"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
