"""Request and response bodies. Separate from the ORM models on purpose."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from labelbay.db.models import Comment, Image, Project, ProjectMember, ReviewEvent, Role, User
from labelbay.labels import ClassScore, Geometry, Kind, Label
from labelbay.security.freejson import FreeJSON


class FromRow(BaseModel):
    """A response body read straight off an ORM row's attributes of the same names."""

    model_config = ConfigDict(from_attributes=True)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class UserOut(FromRow):
    id: int
    email: str
    display_name: str
    is_admin: bool


class UserCreate(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    is_admin: bool = False


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyOut(FromRow):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. It is shown only this once.")


class LabelIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    color: str = Field(default="", max_length=16)
    description: str = Field(default="", max_length=2000)


class LabelPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    color: str | None = Field(default=None, max_length=16)
    description: str | None = Field(default=None, max_length=2000)


class LabelOut(FromRow):
    id: int
    name: str
    color: str
    description: str


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    metadata: FreeJSON = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list, max_length=1000)


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    metadata: FreeJSON | None = None
    default_model: str | None = Field(
        default=None, max_length=100, description="Run this model on every upload; '' for none"
    )
    annotators_per_image: int | None = Field(
        default=None, ge=1, le=20, description="How many distinct people label each image"
    )


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    metadata: dict[str, Any]
    labels: list[LabelOut]
    role: Role
    default_model: str | None
    annotators_per_image: int
    callback_secret: str | None = Field(
        description="Signs job callbacks (X-Signature-256); shown to managers and owners only"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, project: Project, role: Role) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            description=project.description,
            metadata=project.meta,
            labels=[LabelOut.model_validate(label) for label in project.labels],
            role=role,
            default_model=project.default_model,
            annotators_per_image=project.annotators_per_image,
            callback_secret=project.callback_secret if role.at_least(Role.manager) else None,
            created_at=project.created_at,
            updated_at=project.updated_at,
        )


class ProjectList(BaseModel):
    projects: list[ProjectOut]


class MemberIn(BaseModel):
    email: str = Field(max_length=320)
    role: Role


class MemberOut(BaseModel):
    user_id: int
    email: str
    role: Role

    @classmethod
    def of(cls, member: ProjectMember) -> MemberOut:
        return cls(user_id=member.user_id, email=member.user.email, role=Role(member.role))


class ImageOut(BaseModel):
    id: uuid.UUID
    project_id: int
    original_filename: str
    storage_key: str
    mime_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    metadata: dict[str, Any]
    content_url: str
    review_status: str
    lease_user_id: int | None = Field(default=None, description="Who holds it in review")
    lease_until: datetime | None = Field(default=None, description="Until when")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, image: Image) -> ImageOut:
        return cls(
            id=image.id,
            project_id=image.project_id,
            original_filename=image.original_filename,
            storage_key=image.storage_key,
            mime_type=image.mime_type,
            size_bytes=image.size_bytes,
            width=image.width,
            height=image.height,
            sha256=image.sha256,
            metadata=image.meta,
            content_url=f"/api/v1/images/{image.id}/content",
            review_status=image.review_status,
            lease_user_id=image.lease_user_id,
            lease_until=image.lease_until,
            created_at=image.created_at,
            updated_at=image.updated_at,
        )


class ImagePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: FreeJSON


class ImagePage(BaseModel):
    images: list[ImageOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")
    total: int | None = Field(default=None, description="Only with `with_total=true`.")


class Rejected(BaseModel):
    filename: str
    reason: str


class UploadResult(BaseModel):
    images: list[ImageOut]
    rejected: list[Rejected]
    job_id: int | None = Field(
        default=None, description="The job running the project's default model on these images"
    )


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class CommentOut(BaseModel):
    id: int
    image_id: uuid.UUID
    author_id: int | None
    author_email: str | None
    text: str
    created_at: datetime

    @classmethod
    def of(cls, comment: Comment) -> CommentOut:
        return cls(
            id=comment.id,
            image_id=comment.image_id,
            author_id=comment.author_id,
            author_email=comment.author.email if comment.author else None,
            text=comment.text,
            created_at=comment.created_at,
        )


class CommentList(BaseModel):
    comments: list[CommentOut]


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1, max_length=100, description="Model name (built-in or registered)"
    )
    model_version: str | None = Field(default=None, description="Default: the active version")
    image_ids: list[uuid.UUID] | None = Field(default=None, description="Default: whole project")
    metadata: dict[str, str] | None = Field(
        default=None, description="Select images whose metadata has these values"
    )
    callback_url: str | None = Field(default=None, max_length=2000)
    save_outputs: bool = Field(
        default=True,
        description="Store a rendered copy of images with detections in the output location, "
        "and the others in the no-label location",
    )


class ImportProblem(BaseModel):
    place: str = Field(description="Where in the files: `file:line`, or `file#/json/pointer`.")
    reason: str


class JobReport(BaseModel):
    """What a finished label import could not use (the first 1000 of each; `progress` counts
    them all)."""

    problems: list[ImportProblem]
    unmatched: list[str] = Field(description="Images the files name that match none.")


class JobOut(BaseModel):
    id: int
    project_id: int
    kind: str = Field(description="`inference` (a model over images) or `label_import`.")
    model: str | None = Field(description="None for a label import of people's annotations.")
    model_version: str | None
    status: str
    total: int
    done: int
    failed: int
    images_per_second: float | None
    stage_ms: dict[str, float]
    errors: list[dict[str, str]]
    callback_url: str | None
    callback_status: str | None
    callback_attempts: int
    callback_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(default=None, description="Why a label import failed.")
    progress: dict[str, int] = Field(
        default_factory=dict,
        description="A label import's counts, saved as it runs: records, images_in_file, "
        "images_matched, images_added, labels_added, unchanged, problems, unmatched.",
    )
    report: JobReport | None = Field(
        default=None, description="A finished label import's problems (on GET /jobs/{id} only)."
    )


class JobResult(BaseModel):
    task_id: int
    image_id: uuid.UUID
    filename: str
    width: int
    height: int
    status: str
    error: str | None
    labels: list[Label] | None = Field(
        description="What the model found, fitted to the image; null until the task is done."
    )


class JobResults(BaseModel):
    results: list[JobResult]
    next_cursor: int | None


class ModelOut(FromRow):
    id: int | None = Field(
        default=None,
        description="the model version's id (a SAM assist call names it); none for a built-in "
        "model not registered yet",
    )
    name: str
    version: str
    task: str
    format: str
    class_names: list[str]
    is_active: bool


class AnnotationIn(BaseModel):
    """A label a person draws: its geometry in the label model's form for its kind (see
    `labelbay.labels`), inside the image."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    label: str = Field(min_length=1, max_length=200)
    geometry: dict[str, Any] = Field(default_factory=dict)
    text: str | None = Field(default=None, max_length=10_000)
    attributes: dict[str, Any] = Field(default_factory=dict)


class AnnotationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=200)
    geometry: dict[str, Any] | None = None


class AnnotationOut(FromRow):
    id: int
    image_id: uuid.UUID
    kind: str
    label: str
    geometry: Geometry
    source: str
    model_version_id: int | None
    confidence: float | None
    text: str | None
    top_k: list[ClassScore] | None
    attributes: dict[str, Any]
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


class PredictionOut(BaseModel):
    model_version_id: int
    model: str
    model_version: str
    labels: list[Label]
    review: dict[str, str]
    created_at: datetime
    updated_at: datetime


class DetectionReview(BaseModel):
    index: int = Field(ge=0)
    verdict: Literal["accepted", "rejected"] | None


class ReviewIn(BaseModel):
    status: Literal["reviewed", "unreviewed", "rejected"] = Field(
        description="`reviewed` accepts the image, `rejected` sends it back for a fix (with a "
        "reason), `unreviewed` reopens it"
    )
    reason: str | None = Field(default=None, max_length=2000)


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=100, description="The model judged")
    model_version: str | None = Field(default=None, description="Default: the active version")
    ground_truth: Literal["reviewed", "annotations", "model"] = Field(
        default="reviewed",
        description="`reviewed`: people's annotations of reviewed images; `annotations`: of "
        "every selected image; `model`: another model version's labels (less those rejected)",
    )
    gt_model: str | None = Field(default=None, max_length=100, description="For `model`")
    gt_model_version: str | None = Field(default=None, description="Default: the active version")
    iou_threshold: float = Field(
        default=0.5, gt=0, le=1, description="For TP/FP/FN, P/R/F1 and the confusion matrix"
    )
    score_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Default: the model version's confidence threshold"
    )
    iou_type: Literal["bbox", "segm"] = Field(
        default="bbox",
        description="`segm`: match regions by mask IoU as COCOeval(iouType='segm') does (masks, "
        "and polygons, circles and boxes as their outlines); the evaluation's kind is then "
        "`segmentation`",
    )


class EvaluationOut(FromRow):
    id: int
    project_id: int
    model: str
    model_version: str
    ground_truth: str
    gt_model: str | None
    gt_model_version: str | None
    selection: dict[str, Any]
    kind: str | None
    status: str = Field(description="queued, running, completed or failed (with `error`)")
    phase: str | None = Field(
        description="While running: `reading` the labels, `matching` them, `storing` results"
    )
    progress: float = Field(description="Fraction of the run done, 0 to 1")
    iou_threshold: float
    score_threshold: float
    images: int
    metrics: dict[str, Any] = Field(
        description="COCO's 12 bbox numbers (`map`, `ap50`, `ap75`, `ap_small`, …, `ar100`, "
        "`ar_large`) as COCOeval computes them, i.e. means over every class with ground truth "
        "(`mean_over`); `present`: the same over the classes the model also predicted "
        "(`classes_present`); `at_threshold` and `best_f1` (precision, recall, F1, TP, FP, FN); "
        "`per_class` with AP, P/R/F1 and the PR curve (COCO's interpolated precision at 101 "
        "recall points, IoU 0.5); `confusion` (rows ground truth, columns predictions, last "
        "`background`). Circles are evaluated as their boxes. Classification: `accuracy`, "
        "`top5_accuracy`, `per_class`, `confusion`."
    )
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EvaluationImageOut(FromRow):
    image_id: uuid.UUID
    tp: int
    fp: int
    fn: int
    outcomes: dict[str, Any] = Field(
        description='`predictions`: {"<detection index>": "tp" | "fp"}; `missed`: the ground '
        "truth no prediction found (annotation ids, or the other model's detection indices)"
    )


class EvaluationImagePage(BaseModel):
    images: list[EvaluationImageOut]
    next_cursor: str | None


class JudgedPrediction(BaseModel):
    index: int = Field(description="The label's index in the model version's prediction row")
    outcome: Literal["tp", "fp"] | None = Field(
        description="None: not counted (below the score threshold, or past 100 of its class)"
    )
    label: Label


class MissedTruth(BaseModel):
    ref: int = Field(description="The annotation id, or the other model's detection index")
    label: Label


class EvaluationImageDetail(BaseModel):
    """One image's outcome with the labels themselves, for the image view to colour: each
    prediction TP or FP, and the ground truth no prediction found."""

    image_id: uuid.UUID
    tp: int
    fp: int
    fn: int
    predictions: list[JudgedPrediction]
    missed: list[MissedTruth]


class ReviewerCount(BaseModel):
    user_id: int
    email: str
    display_name: str
    images: int


class ModelCount(BaseModel):
    model_version_id: int
    model: str
    version: str
    images: int = Field(description="Images the version has labels for")
    labels: int


class ClassCount(BaseModel):
    label: str
    annotated: int
    predicted: int


class DayCount(BaseModel):
    day: str
    annotations: int


class ProjectStats(BaseModel):
    images: int
    reviewed: int
    reviewers: list[ReviewerCount]
    models: list[ModelCount]
    labels_model_version_id: int | None = Field(
        description="The model version whose labels `labels[].predicted` counts"
    )
    labels: list[ClassCount]
    annotations_per_day: list[DayCount] = Field(description="The last 30 days")
    evaluations: list[dict[str, Any]] = Field(
        description="The latest completed evaluation of each model version: its id, model, "
        "ground truth, images and headline numbers (`map`, `ap50`, `ap75` or `accuracy`)"
    )


# -- the review queue, its history and figures, agreement


class LeaseOut(BaseModel):
    image: ImageOut | None = Field(description="null when the queue is empty")
    lease_until: datetime | None
    strategy: str | None


class ReviewEventOut(BaseModel):
    id: int
    image_id: uuid.UUID
    user_id: int | None
    email: str | None
    action: str = Field(
        description="claim | release | accept | reject | reopen | accept_predictions | correct "
        "| consensus_accept | undo (details.undone: the event taken back)"
    )
    reason: str | None
    duration_s: float | None = Field(description="Seconds from taking the image to this verdict")
    details: dict[str, Any]
    at: datetime

    @classmethod
    def of(cls, event: ReviewEvent, user: User | None) -> ReviewEventOut:
        return cls(
            id=event.id,
            image_id=event.image_id,
            user_id=event.user_id,
            email=None if user is None else user.email,
            action=event.action,
            reason=event.reason,
            duration_s=event.duration_s,
            details=event.details,
            at=event.at,
        )


class ReviewerFigures(BaseModel):
    user_id: int
    email: str
    accepted: int
    rejected: int
    corrected: int
    median_seconds: float | None


class ReviewStats(BaseModel):
    unreviewed: int
    in_review: int
    reviewed: int
    rejected: int
    reviewers: list[ReviewerFigures]


class DisagreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version_id: int
    versus: int
    iou: float = Field(default=0.5, gt=0, le=1)


class DisagreementOut(BaseModel):
    images: int = Field(description="Images both model versions predicted")


class CorrectionIn(BaseModel):
    """A detection's fix: its index, and the label as it should be (inside the image)."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    kind: Kind
    label: str = Field(min_length=1, max_length=200)
    geometry: dict[str, Any] = Field(default_factory=dict)
    text: str | None = Field(default=None, max_length=10_000)


class ConsensusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iou: float = Field(default=0.5, gt=0, le=1)


class AnnotatorLabels(BaseModel):
    user_id: int
    email: str
    agreement: float | None = Field(description="Mean F1 with the other annotators")
    labels: list[Label]


class ImageAgreement(BaseModel):
    image_id: uuid.UUID
    iou: float
    agreement: float | None = Field(description="Mean pairwise F1; null under two annotators")
    annotators: list[AnnotatorLabels]
    consensus: list[Label]


class AnnotatorAgreement(BaseModel):
    user_id: int
    email: str
    images: int
    agreement: float


class ClassAgreement(BaseModel):
    images: int
    cohen_kappa: float | None
    krippendorff_alpha: float | None


class ProjectAgreement(BaseModel):
    iou: float
    images: int
    agreement: float | None
    annotators: list[AnnotatorAgreement]
    classification: ClassAgreement
