"""Reviewing an image: people's annotations, verdicts on predictions, and the review mark."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from labelbay import labels
from labelbay.api.deps import CurrentUser, SessionDep
from labelbay.api.schemas import (
    AnnotationIn,
    AnnotationOut,
    AnnotationPatch,
    DetectionReview,
    ImageOut,
    PredictionOut,
    ReviewIn,
)
from labelbay.db.models import Annotation, Image, Role, User
from labelbay.labels import Label
from labelbay.services import annotations as service
from labelbay.services import review
from labelbay.services.images import get_image
from labelbay.services.projects import hidden_as

router = APIRouter(prefix="/api/v1", tags=["review"])


def _annotation_and_image(
    session: SessionDep, user: User, annotation_id: int
) -> tuple[Annotation, Image]:
    with hidden_as(f"annotation {annotation_id}"):
        annotation = service.get_annotation(session, annotation_id=annotation_id)
        image = get_image(session, user=user, image_id=annotation.image_id, min_role=Role.annotator)
    return annotation, image


@router.get("/images/{image_id}/annotations")
def list_annotations(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[AnnotationOut]:
    """People's annotations of the image (boxes, circles, polygons, its class)."""
    get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    return [
        AnnotationOut.model_validate(a)
        for a in service.list_annotations(session, image_id=image_id)
    ]


@router.post("/images/{image_id}/annotations", status_code=status.HTTP_201_CREATED)
def add_annotation(
    image_id: uuid.UUID, body: AnnotationIn, user: CurrentUser, session: SessionDep
) -> AnnotationOut:
    """Draw a box, circle, polygon or text line, or set the image's class (annotator and up).
    Coordinates are pixels of the original image and the whole shape must lie inside it (a circle
    too, not only its centre); the label must be in the project's label set (when it has one)."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    label = labels.make(
        body.kind, body.label, body.geometry, text=body.text, attributes=body.attributes
    )
    annotation = service.add_annotation(session, image=image, user=user, label=label)
    return AnnotationOut.model_validate(annotation)


@router.patch("/annotations/{annotation_id}")
def update_annotation(
    annotation_id: int, body: AnnotationPatch, user: CurrentUser, session: SessionDep
) -> AnnotationOut:
    """Move or resize (new geometry) or relabel an annotation (annotator and up)."""
    annotation, image = _annotation_and_image(session, user, annotation_id)
    service.update_annotation(
        session, annotation=annotation, image=image, label=body.label, geometry=body.geometry
    )
    return AnnotationOut.model_validate(annotation)


@router.delete("/annotations/{annotation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_annotation(annotation_id: int, user: CurrentUser, session: SessionDep) -> None:
    """Delete an annotation (annotator and up)."""
    annotation, _ = _annotation_and_image(session, user, annotation_id)
    session.delete(annotation)


@router.get("/images/{image_id}/predictions")
def list_predictions(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[PredictionOut]:
    """What each model version found in the image, with reviewers' verdicts per detection."""
    get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    return [
        PredictionOut(
            model_version_id=version.id,
            model=version.name,
            model_version=version.version,
            labels=[Label.model_validate(d) for d in prediction.detections],
            review=prediction.review,
            created_at=prediction.created_at,
            updated_at=prediction.updated_at,
        )
        for prediction, version in service.list_predictions(session, image_id=image_id)
    ]


@router.post("/images/{image_id}/predictions/{model_version_id}/review")
def review_detection(
    image_id: uuid.UUID,
    model_version_id: int,
    body: DetectionReview,
    user: CurrentUser,
    session: SessionDep,
) -> dict[str, str]:
    """Accept (it becomes an annotation) or reject one detection; `null` clears the verdict."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    prediction = service.review_detection(
        session,
        image=image,
        user=user,
        model_version_id=model_version_id,
        index=body.index,
        verdict=body.verdict,
    )
    return prediction.review


@router.post("/images/{image_id}/review")
def set_review(
    image_id: uuid.UUID, body: ReviewIn, user: CurrentUser, session: SessionDep
) -> ImageOut:
    """The verdict on the image (annotator and up): `reviewed` accepts it, `rejected` sends it back
    for a fix and needs a `reason`, `unreviewed` reopens it. Ends the caller's lease (the time
    since the lease began is this review's time); 409 while another reviewer's lease lives.
    Each verdict is a row of the image's review history."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    review.set_review_status(
        session, image=image, user=user, status=body.status, reason=body.reason
    )
    return ImageOut.of(image)
