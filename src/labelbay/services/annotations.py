"""People's labels on an image (annotations), their verdicts on predictions, and image review."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.db.models import Annotation, Image, Label, ModelVersion, Prediction, User
from labelbay.errors import Invalid, NotFound

Kind = Literal["box", "circle", "polygon", "classification"]
Verdict = Literal["accepted", "rejected"]
MAX_POLYGON_POINTS = 10_000


def check_geometry(
    kind: str, geometry: Mapping[str, Any], *, width: int, height: int
) -> dict[str, Any]:
    """The geometry normalised to floats, or `Invalid` when it is malformed or leaves the image."""

    def number(key: str, value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise Invalid(f"{kind}: {key} must be a finite number")
        return float(value)

    def inside(x: float, y: float) -> None:
        if not (0 <= x <= width and 0 <= y <= height):
            raise Invalid(f"{kind}: point ({x:g}, {y:g}) is outside the {width}x{height} image")

    if kind == "box":
        x1, y1, x2, y2 = (number(k, geometry.get(k)) for k in ("x1", "y1", "x2", "y2"))
        if x2 <= x1 or y2 <= y1:
            raise Invalid("box: x2 must be greater than x1 and y2 greater than y1")
        inside(x1, y1)
        inside(x2, y2)
        return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
    if kind == "circle":
        cx, cy, r = (number(k, geometry.get(k)) for k in ("cx", "cy", "r"))
        if r <= 0:
            raise Invalid("circle: r must be positive")
        inside(cx, cy)
        return {"cx": cx, "cy": cy, "r": r}
    if kind == "polygon":
        points = geometry.get("points")
        if not isinstance(points, list) or not 3 <= len(points) <= MAX_POLYGON_POINTS:
            raise Invalid(f"polygon: points must be a list of 3 to {MAX_POLYGON_POINTS} [x, y]")
        out = []
        for point in points:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise Invalid("polygon: each point is [x, y]")
            x, y = number("x", point[0]), number("y", point[1])
            inside(x, y)
            out.append([x, y])
        return {"points": out}
    if kind == "classification":
        return {}
    raise Invalid(f"unknown annotation kind {kind!r}")


def check_label(session: Session, *, project_id: int, label: str) -> str:
    """A label of the project's set (any label when the set is empty)."""
    label = label.strip()
    if not label:
        raise Invalid("an annotation needs a label")
    names = set(session.scalars(select(Label.name).where(Label.project_id == project_id)))
    if names and label not in names:
        raise Invalid(f"label {label!r} is not in the project's label set")
    return label


def add_annotation(
    session: Session,
    *,
    image: Image,
    user: User,
    kind: str,
    label: str,
    geometry: Mapping[str, Any],
    source: str = "human",
    model_version_id: int | None = None,
    confidence: float | None = None,
) -> Annotation:
    clean = check_geometry(kind, geometry, width=image.width, height=image.height)
    label = check_label(session, project_id=image.project_id, label=label)
    if kind == "classification":
        # An image has one class: setting it replaces the previous one.
        for old in session.scalars(
            select(Annotation).where(
                Annotation.image_id == image.id, Annotation.kind == "classification"
            )
        ):
            session.delete(old)
    annotation = Annotation(
        image_id=image.id,
        kind=kind,
        label=label,
        geometry=clean,
        source=source,
        model_version_id=model_version_id,
        confidence=confidence,
        created_by_id=user.id,
    )
    session.add(annotation)
    session.flush()
    return annotation


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
    if label is not None:
        annotation.label = check_label(session, project_id=image.project_id, label=label)
    if geometry is not None:
        annotation.geometry = check_geometry(
            annotation.kind, geometry, width=image.width, height=image.height
        )
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
        detection = prediction.detections[index]
        box = detection["bbox"]
        add_annotation(
            session,
            image=image,
            user=user,
            kind="box",
            label=detection["class_name"],
            geometry={
                "x1": max(0.0, box["x1"]),
                "y1": max(0.0, box["y1"]),
                "x2": min(float(image.width), box["x2"]),
                "y2": min(float(image.height), box["y2"]),
            },
            source="prediction",
            model_version_id=model_version_id,
            confidence=detection.get("confidence"),
        )
    session.flush()
    return prediction


def set_review_status(session: Session, *, image: Image, user: User, reviewed: bool) -> Image:
    image.review_status = "reviewed" if reviewed else "unreviewed"
    image.reviewed_by_id = user.id if reviewed else None
    image.reviewed_at = datetime.now(UTC) if reviewed else None
    session.flush()
    return image
