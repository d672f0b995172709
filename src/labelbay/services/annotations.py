"""People's labels on an image (annotations) and their verdicts on predictions (the review
workflow around them is `services.review`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay import labels
from labelbay.db.models import Annotation, Image, Label, ModelVersion, Prediction, User
from labelbay.errors import Invalid, NotFound

Verdict = Literal["accepted", "rejected"]


def label_of(annotation: Any) -> labels.Label:
    """An annotation (an ORM row, or a result row with the same column names) as a label."""
    if annotation.source == "prediction" and annotation.model_version_id is not None:
        source = labels.Source(model_version_id=annotation.model_version_id)
    elif annotation.created_by_id is not None:
        source = labels.Source(user_id=annotation.created_by_id)
    else:
        source = None
    return labels.Label.model_validate(
        {
            "kind": annotation.kind,
            "label": annotation.label,
            "geometry": annotation.geometry,
            "score": annotation.confidence,
            "text": annotation.text,
            "top_k": annotation.top_k,
            "attributes": annotation.attributes or {},
            "source": source,
        }
    )


def label_set(session: Session, *, project_id: int) -> set[str]:
    return set(session.scalars(select(Label.name).where(Label.project_id == project_id)))


def check_label(
    session: Session, *, project_id: int, label: str, names: set[str] | None = None
) -> str:
    """A label of the project's set (any label when the set is empty); `names`: the set, when
    the caller has read it already (an import checks many labels)."""
    label = label.strip()
    if not label:
        raise Invalid("an annotation needs a label")
    if names is None:
        names = label_set(session, project_id=project_id)
    if names and label not in names:
        raise Invalid(f"label {label!r} is not in the project's label set")
    return label


def add_annotation(
    session: Session,
    *,
    image: Image,
    user: User,
    label: labels.Label,
    model_version_id: int | None = None,
) -> Annotation:
    """Store a label as an annotation. A person's label must lie inside the image (else
    `Invalid`); a model's (accepted from a prediction, `model_version_id` set) is clipped into it,
    as it was when the prediction was stored."""
    if model_version_id is None:
        label.check_inside(image.width, image.height)
    else:
        fitted = label.fitted(image.width, image.height)
        if fitted is None:
            raise Invalid(f"{label.kind}: nothing of it lies inside the image")
        label = fitted
    name = check_label(session, project_id=image.project_id, label=label.label)
    if label.kind == "classification":
        # An image has one class: setting it replaces the previous one.
        for old in session.scalars(
            select(Annotation).where(
                Annotation.image_id == image.id, Annotation.kind == "classification"
            )
        ):
            session.delete(old)
    annotation = Annotation(
        **annotation_values(
            label, name=name, image_id=image.id, user_id=user.id, model_version_id=model_version_id
        )
    )
    session.add(annotation)
    session.flush()
    return annotation


def annotation_values(
    label: labels.Label,
    *,
    name: str,
    image_id: uuid.UUID,
    user_id: int | None,
    model_version_id: int | None = None,
) -> dict[str, Any]:
    """An annotation row's columns for a checked label (`add_annotation` adds one; an import
    inserts many at once)."""
    return {
        "image_id": image_id,
        "kind": label.kind,
        "label": name,
        "geometry": label.geometry.model_dump(mode="json", exclude_none=True),
        "source": "human" if model_version_id is None else "prediction",
        "model_version_id": model_version_id,
        "confidence": label.score,
        "text": label.text,
        "top_k": None if label.top_k is None else [c.model_dump() for c in label.top_k],
        "attributes": label.attributes,
        "created_by_id": user_id,
    }


def get_annotation(session: Session, *, annotation_id: int) -> Annotation:
    annotation = session.get(Annotation, annotation_id)
    if annotation is None:
        raise NotFound(f"annotation {annotation_id} not found")
    return annotation


def update_annotation(
    session: Session,
    *,
    annotation: Annotation,
    image: Image,
    label: str | None = None,
    geometry: Mapping[str, Any] | None = None,
) -> Annotation:
    """Relabel, or move/resize (a new geometry of the same kind, inside the image)."""
    if label is not None:
        annotation.label = check_label(session, project_id=image.project_id, label=label)
    if geometry is not None:
        changed = labels.make(annotation.kind, annotation.label, geometry)
        changed.check_inside(image.width, image.height)
        annotation.geometry = changed.geometry.model_dump(mode="json", exclude_none=True)
    session.flush()
    return annotation


def list_annotations(session: Session, *, image_id: Any) -> list[Annotation]:
    stmt = select(Annotation).where(Annotation.image_id == image_id).order_by(Annotation.id)
    return list(session.scalars(stmt))


def list_predictions(session: Session, *, image_id: Any) -> list[tuple[Prediction, ModelVersion]]:
    stmt = (
        select(Prediction, ModelVersion)
        .join(ModelVersion, ModelVersion.id == Prediction.model_version_id)
        .where(Prediction.image_id == image_id)
        .order_by(Prediction.id)
    )
    return [(p, m) for p, m in session.execute(stmt).all()]


def review_detection(
    session: Session,
    *,
    image: Image,
    user: User,
    model_version_id: int,
    index: int,
    verdict: Verdict | None,
) -> Prediction:
    """Accept (copy into the annotations) or reject one detection; None clears the verdict."""
    prediction = session.scalar(
        select(Prediction).where(
            Prediction.image_id == image.id, Prediction.model_version_id == model_version_id
        )
    )
    if prediction is None:
        raise NotFound("this image has no prediction from that model version")
    if not 0 <= index < len(prediction.detections):
        raise Invalid(f"detection index {index} out of range")
    review = dict(prediction.review)
    if verdict is None:
        review.pop(str(index), None)
    else:
        review[str(index)] = verdict
    prediction.review = review
    if verdict == "accepted":
        # The annotation is the prediction's label itself: same kind, geometry, score, text.
        add_annotation(
            session,
            image=image,
            user=user,
            label=labels.Label.model_validate(prediction.detections[index]),
            model_version_id=model_version_id,
        )
    session.flush()
    return prediction
