"""The old services' HTTP contracts, under their old paths, so their clients keep working.

- Batch Labeling: `POST /upload` → `{"results": [{"filename", "coco_bboxes"}]}`;
- Image Classification Microservice: `POST /api/v1/predict`, `GET /api/v1/predictions`;
- circular detection backend: `POST /images/` → `{"image_id", "detections"}` (`/health` and
  `/config` are the platform's own).

Each stores its images in the project `LABELBAY_LEGACY_PROJECT_ID` and runs its model as a job of
one batch, in the request (the old services answered with the results), through the same task code
as every job: predictions rows, rendered outputs and no-label copies come out the same. Like every
route, they need a signed-in user with a role in that project.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status
from sqlalchemy import func, select

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.db.models import Image, ModelVersion, Prediction, Project, Role, User
from labelbay.imports.spool import head, spool
from labelbay.jobs.service import wait_for_job
from labelbay.jobs.start import start_job
from labelbay.labels import Label, worker_json
from labelbay.services import images
from labelbay.services.filters import metadata_conditions
from labelbay.services.projects import require_project
from labelbay.uploads.multipart import FilePart
from labelbay.uploads.validate import sniff

router = APIRouter(tags=["legacy"])

BATCH_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
USER_KEY = "legacy_user_id"
# How long an old synchronous contract waits for its images to be labelled before answering 504.
LEGACY_WAIT_S = 600.0


def _project(context: ContextDep, session: SessionDep, user: User, role: Role) -> Project:
    project_id = context.settings.legacy_project_id
    if project_id is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the old endpoints are not configured: set LABELBAY_LEGACY_PROJECT_ID",
        )
    project, _ = require_project(session, user=user, project_id=project_id, min_role=role)
    session.commit()  # end the read transaction before storing and running a model
    return project


def _spooled(context: ContextDep, files: list[UploadFile]) -> list[FilePart]:
    limit = context.settings.max_upload_bytes
    return [spool(_chunks(f), filename=f.filename or "upload", max_bytes=limit) for f in files]


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    while chunk := upload.file.read(1 << 20):
        yield chunk


def _store(
    context: ContextDep, parts: list[FilePart], project: Project, user: User, meta: dict[str, Any]
) -> list[Image]:
    """Validate and store each file as every upload is; the first refusal answers 400."""
    limits = images.UploadLimits(
        max_bytes=context.settings.max_upload_bytes,
        max_pixels=context.settings.max_image_pixels,
        max_filename_length=context.settings.max_filename_length,
    )
    stored: list[Image] = []
    for index, part in enumerate(parts):
        outcome = images.store_upload(
            sessions=context.sessions,
            store=context.storage.input,
            part=part,
            project_id=project.id,
            uploader_id=user.id,
            limits=limits,
            meta=meta,
        )
        if isinstance(outcome, images.Rejection):
            for rest in parts[index + 1 :]:
                rest.discard()
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"{outcome.filename}: {outcome.reason}"
            )
        stored.append(outcome)
    return stored


def _run(
    context: ContextDep,
    project: Project,
    user: User,
    model: str,
    stored: list[Image],
    *,
    save_outputs: bool,
) -> dict[uuid.UUID, Prediction]:
    """Run `model` over the images as a job and wait for it (the old clients wait for their
    answer); their predictions by image id. The model runs where every job runs: in the server's
    model processes or on Celery workers, never in this request's thread."""
    ids = [image.id for image in stored]
    with context.sessions() as session:
        job = start_job(
            session,
            executor=context.executor,
            batch_size=context.settings.job_batch_size,
            project=session.get_one(Project, project.id),
            user=session.get(User, user.id),
            model_name=model,
            image_ids=ids,
            options={"save_outputs": save_outputs},
        )
        version_id, job_id = job.model_version_id, job.id
    if wait_for_job(context.sessions, job_id=job_id, timeout_s=LEGACY_WAIT_S) is None:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT,
            f"the images were not labelled within {LEGACY_WAIT_S:.0f} s; job {job_id} goes on",
        )
    with context.sessions() as session:
        found = session.scalars(
            select(Prediction).where(
                Prediction.image_id.in_(ids), Prediction.model_version_id == version_id
            )
        )
        predictions = {p.image_id: p for p in found}
    if len(predictions) != len(ids):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the model could not read an image"
        )
    return predictions


def _model(name: str | None, fallback: str | None, what: str) -> str:
    chosen = name or fallback
    if not chosen:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"no {what} model is configured")
    return chosen


@router.post("/upload")
def batch_upload(
    files: Annotated[list[UploadFile], File()],
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> dict[str, list[dict[str, Any]]]:
    """Batch Labeling: detect objects in JPEG/PNG files; boxes as COCO `[x, y, width, height]`.

    Originals go to the input location, rendered copies to the output location, images with no
    detection to the no-label location.
    """
    project = _project(context, session, user, Role.annotator)
    model = _model(context.settings.legacy_detect_model, project.default_model, "detection")
    parts = _spooled(context, files)
    for part in parts:
        kind = sniff(head(part))
        if PurePath(part.filename).suffix.lower() not in BATCH_EXTENSIONS or (
            kind is None or kind[1] not in ("jpg", "png")
        ):
            for each in parts:
                each.discard()
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"Invalid file type: {part.filename}. Only jpg, jpeg, png are allowed.",
            )
    stored = _store(context, parts, project, user, {})
    predictions = _run(context, project, user, model, stored, save_outputs=True)
    results = []
    for image in stored:
        coco = [
            [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
            for label in _labels(predictions[image.id])
            if (box := label.box_in(image.width, image.height)) is not None
            for x1, y1, x2, y2 in [box]
        ]
        results.append({"filename": image.original_filename, "coco_bboxes": coco})
    return {"results": results}


@router.post("/api/v1/predict")
def classify(
    file: Annotated[UploadFile, File()],
    user_id: Annotated[uuid.UUID, Form()],
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> dict[str, Any]:
    """Image Classification Microservice: the image's class by the active classification model."""
    project = _project(context, session, user, Role.annotator)
    name = context.settings.legacy_classify_model or session.scalar(
        select(ModelVersion.name)
        .where(ModelVersion.task == "classify", ModelVersion.is_active)
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )
    model = _model(name, None, "classification")
    stored = _store(context, _spooled(context, [file]), project, user, {USER_KEY: str(user_id)})
    prediction = _run(context, project, user, model, stored, save_outputs=False)[stored[0].id]
    return _classification(prediction)


def _labels(prediction: Prediction) -> list[Label]:
    return [Label.model_validate(d) for d in prediction.detections]


def _classification(prediction: Prediction) -> dict[str, Any]:
    best = max(_labels(prediction), key=lambda x: x.score or 0.0, default=None)
    return {
        "prediction_id": prediction.id,
        "image_id": str(prediction.image_id),
        "predicted_class": best.label if best else "unknown",
        "confidence_score": best.score if best and best.score is not None else 0.0,
        "prediction_time_ms": round(prediction.processing_time_ms),
    }


@router.get("/api/v1/predictions")
def prediction_history(
    user_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Image Classification Microservice: one user's classifications, newest first."""
    project = _project(context, session, user, Role.viewer)
    dialect = session.get_bind().dialect.name
    conditions = [
        Image.project_id == project.id,
        ModelVersion.task == "classify",
        *metadata_conditions(Image.meta, {USER_KEY: str(user_id)}, dialect=dialect),
    ]
    joined = (
        select(Prediction)
        .join(Image, Image.id == Prediction.image_id)
        .join(ModelVersion, ModelVersion.id == Prediction.model_version_id)
        .where(*conditions)
    )
    total = session.scalar(select(func.count()).select_from(joined.subquery())) or 0
    rows = session.scalars(
        joined.order_by(Prediction.id.desc()).offset((page - 1) * limit).limit(limit)
    )
    predictions = []
    for prediction in rows:
        entry = _classification(prediction)
        del entry["prediction_time_ms"]
        entry["created_at"] = prediction.created_at.isoformat()
        predictions.append(entry)
    return {"predictions": predictions, "total": total, "page": page, "limit": limit}


@router.post("/images/")
def circles_upload(
    file: Annotated[UploadFile, File()],
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> dict[str, Any]:
    """Circular detection backend: store the image, detect circles, answer both.

    Each detection is `{"class_id", "class_name", "confidence", "bbox": {"x1", "y1", "x2", "y2"},
    "circle": {"cx", "cy", "r"}}`, in pixels of the image.
    """
    project = _project(context, session, user, Role.annotator)
    stored = _store(context, _spooled(context, [file]), project, user, {})
    model = context.settings.legacy_circles_model
    prediction = _run(context, project, user, model, stored, save_outputs=False)[stored[0].id]
    image = stored[0]
    detections = [
        worker_json(label, width=image.width, height=image.height) for label in _labels(prediction)
    ]
    return {"image_id": str(image.id), "detections": detections}
