"""Agreement between the people who labelled the same images, and the consensus a reviewer can
accept as ground truth. The numbers come from `evaluation.agreement`; this module reads the rows.

An annotator's labels of an image are the human annotations they created on it (accepted model
labels and accepted consensus do not count as anyone's opinion)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelbay import labels
from labelbay.db.models import Annotation, Image, User
from labelbay.errors import Conflict
from labelbay.evaluation.agreement import (
    cohen_kappa,
    consensus,
    krippendorff_alpha,
    pairwise_agreement,
)
from labelbay.services.annotations import add_annotation, label_of
from labelbay.services.review import record_event, set_review_status

CONSENSUS = "consensus"


def annotators_labels(session: Session, *, image_id: Any) -> dict[int, list[labels.Label]]:
    """Each annotator's labels of the image, annotators by user id, labels in drawing order."""
    rows = session.scalars(
        select(Annotation)
        .where(
            Annotation.image_id == image_id,
            Annotation.source == "human",
            Annotation.created_by_id.is_not(None),
        )
        .order_by(Annotation.created_by_id, Annotation.id)
    )
    by_user: dict[int, list[labels.Label]] = defaultdict(list)
    for row in rows:
        assert row.created_by_id is not None
        by_user[row.created_by_id].append(label_of(row))
    return dict(by_user)


def image_agreement(session: Session, *, image: Image, iou: float) -> dict[str, Any]:
    """Per-image agreement (mean pairwise F1; None with fewer than two annotators), each
    annotator's mean F1 with the others, their labels, and the merged consensus."""
    by_user = annotators_labels(session, image_id=image.id)
    result = pairwise_agreement(by_user, iou=iou)
    emails = _emails(session, list(by_user))
    return {
        "image_id": image.id,
        "iou": iou,
        "agreement": None if result is None else result.mean_f1,
        "annotators": [
            {
                "user_id": user_id,
                "email": emails.get(user_id, ""),
                "agreement": None if result is None else result.per_rater[user_id],
                "labels": found,
            }
            for user_id, found in by_user.items()
        ],
        "consensus": consensus(by_user, iou=iou) if by_user else [],
    }


def accept_consensus(session: Session, *, image: Image, user: User, iou: float) -> list[Annotation]:
    """The consensus becomes the image's annotations (source `consensus`, made by the reviewer)
    in place of the annotators' own, and the image is accepted. The annotators' labels are kept in
    the review history (the event's details), so nothing is lost."""
    by_user = annotators_labels(session, image_id=image.id)
    if len(by_user) < 2:
        raise Conflict("a consensus needs labels from at least two annotators")
    merged = consensus(by_user, iou=iou)
    replaced = session.scalars(
        select(Annotation).where(Annotation.image_id == image.id, Annotation.source == "human")
    ).all()
    for row in replaced:
        session.delete(row)
    session.flush()
    made = [add_annotation(session, image=image, user=user, label=label) for label in merged]
    for row in made:
        row.source = CONSENSUS
    record_event(
        session,
        image=image,
        user=user,
        action="consensus_accept",
        details={
            "iou": iou,
            "annotators": {str(u): [x.to_json() for x in found] for u, found in by_user.items()},
            "annotation_ids": [row.id for row in made],
        },
    )
    set_review_status(session, image=image, user=user, status="reviewed")
    return made


def project_agreement(session: Session, *, project_id: int, iou: float) -> dict[str, Any]:
    """Over the project's images with two or more annotators: the mean per-image agreement, each
    annotator's mean agreement with the others (over the images they share), and for image
    classes Cohen's kappa (exactly two annotators in the project) and Krippendorff's alpha.
    Reads those images' human annotations (one query), computes in Python."""
    shared = (
        select(Annotation.image_id)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id, Annotation.source == "human")
        .group_by(Annotation.image_id)
        .having(func.count(func.distinct(Annotation.created_by_id)) >= 2)
    )
    rows = session.scalars(
        select(Annotation)
        .where(Annotation.image_id.in_(shared), Annotation.source == "human")
        .order_by(Annotation.image_id, Annotation.created_by_id, Annotation.id)
    )
    images: dict[Any, dict[int, list[labels.Label]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.created_by_id is not None:
            images[row.image_id][row.created_by_id].append(label_of(row))
    per_image: list[float] = []
    per_user: dict[int, list[float]] = defaultdict(list)
    classes: list[dict[int, str]] = []
    for by_user in images.values():
        result = pairwise_agreement(by_user, iou=iou)
        if result is None:
            continue
        per_image.append(result.mean_f1)
        for user_id, value in result.per_rater.items():
            per_user[user_id].append(value)
        given = {
            u: next(x.label for x in found if x.kind == "classification")
            for u, found in by_user.items()
            if any(x.kind == "classification" for x in found)
        }
        if len(given) >= 2:
            classes.append(given)
    raters = sorted({u for unit in classes for u in unit})
    kappa = None
    if len(raters) == 2:
        first, second = raters
        kappa = cohen_kappa([(u[first], u[second]) for u in classes if len(u) == 2])
    emails = _emails(session, list(per_user))
    return {
        "iou": iou,
        "images": len(per_image),
        "agreement": sum(per_image) / len(per_image) if per_image else None,
        "annotators": [
            {
                "user_id": user_id,
                "email": emails.get(user_id, ""),
                "images": len(values),
                "agreement": sum(values) / len(values),
            }
            for user_id, values in sorted(per_user.items())
        ],
        "classification": {
            "images": len(classes),
            "cohen_kappa": kappa,
            "krippendorff_alpha": krippendorff_alpha([list(u.values()) for u in classes]),
        },
    }


def _emails(session: Session, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(session.execute(select(User.id, User.email).where(User.id.in_(user_ids))).all())
