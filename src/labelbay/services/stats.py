"""A project's dashboard figures, each one SQL aggregate (no loop over rows in Python).

Images and reviewed images (and by whom); images predicted and labels found per model version;
labels per class, annotated and predicted by one model version (its stored labels unnested in
SQL: `jsonb_array_elements` on PostgreSQL, `json_each` on SQLite); annotations added per day;
the latest completed evaluation of each model version.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from labelbay.db.base import utcnow
from labelbay.db.models import Annotation, Evaluation, Image, ModelVersion, Prediction, User

DAYS = 30
SUMMARY_KEYS = ("map", "ap50", "ap75", "accuracy", "top5_accuracy")

_PREDICTED_PER_CLASS = {
    "postgresql": (
        "SELECT d->>'label' AS label, count(*) AS n FROM predictions p "
        "JOIN images i ON i.id = p.image_id "
        "CROSS JOIN LATERAL jsonb_array_elements(p.detections) AS d "
        "WHERE i.project_id = :project AND p.model_version_id = :model GROUP BY 1 ORDER BY 1"
    ),
    "sqlite": (
        "SELECT json_extract(d.value, '$.label') AS label, count(*) AS n FROM predictions p "
        "JOIN images i ON i.id = p.image_id, json_each(p.detections) AS d "
        "WHERE i.project_id = :project AND p.model_version_id = :model GROUP BY 1 ORDER BY 1"
    ),
}


def project_stats(
    session: Session, *, project_id: int, model_version_id: int | None
) -> dict[str, Any]:
    """The figures; labels per class are predicted by `model_version_id` (none if None)."""
    in_project = Image.project_id == project_id
    images, reviewed = session.execute(
        select(
            func.count(Image.id),
            func.count(Image.id).filter(Image.review_status == "reviewed"),
        ).where(in_project)
    ).one()
    reviewers = session.execute(
        select(User.id, User.email, User.display_name, func.count(Image.id))
        .join(Image, Image.reviewed_by_id == User.id)
        .where(in_project, Image.review_status == "reviewed")
        .group_by(User.id, User.email, User.display_name)
        .order_by(func.count(Image.id).desc())
    ).all()
    per_model = session.execute(
        select(
            ModelVersion.id,
            ModelVersion.name,
            ModelVersion.version,
            func.count(Prediction.id),
            func.coalesce(func.sum(Prediction.num_detections), 0),
        )
        .join(Prediction, Prediction.model_version_id == ModelVersion.id)
        .join(Image, Image.id == Prediction.image_id)
        .where(in_project)
        .group_by(ModelVersion.id, ModelVersion.name, ModelVersion.version)
        .order_by(ModelVersion.id)
    ).all()
    # labels per class and per day in one pass over the annotations: (label, day) groups are few
    day = func.date(Annotation.created_at)
    by_label_day = session.execute(
        select(Annotation.label, day, func.count(Annotation.id))
        .join(Image, Image.id == Annotation.image_id)
        .where(in_project)
        .group_by(Annotation.label, day)
    ).all()
    predicted: list[Any] = []
    if model_version_id is not None:
        dialect = session.get_bind().dialect.name
        predicted = list(
            session.execute(
                text(_PREDICTED_PER_CLASS[dialect]),
                {"project": project_id, "model": model_version_id},
            ).all()
        )
    since = str((utcnow() - timedelta(days=DAYS)).date())
    per_day: dict[str, int] = {}
    classes: dict[str, dict[str, int]] = {}
    for label, date, n in by_label_day:
        classes.setdefault(label, {"annotated": 0, "predicted": 0})["annotated"] += n
        if str(date) >= since:
            per_day[str(date)] = per_day.get(str(date), 0) + n
    for label, n in predicted:
        classes.setdefault(str(label), {"annotated": 0, "predicted": 0})["predicted"] = n
    return {
        "images": images,
        "reviewed": reviewed,
        "reviewers": [
            {"user_id": uid, "email": email, "display_name": name, "images": n}
            for uid, email, name, n in reviewers
        ],
        "models": [
            {"model_version_id": mid, "model": name, "version": version, "images": n, "labels": k}
            for mid, name, version, n, k in per_model
        ],
        "labels_model_version_id": model_version_id,
        "labels": [{"label": name, **counts} for name, counts in sorted(classes.items())],
        "annotations_per_day": [{"day": d, "annotations": n} for d, n in sorted(per_day.items())],
        "evaluations": _latest_evaluations(session, project_id=project_id),
    }


def _latest_evaluations(session: Session, *, project_id: int) -> list[dict[str, Any]]:
    latest = (
        select(func.max(Evaluation.id))
        .where(Evaluation.project_id == project_id, Evaluation.status == "completed")
        .group_by(Evaluation.model_version_id)
    )
    rows = session.scalars(
        select(Evaluation).where(Evaluation.id.in_(latest)).order_by(Evaluation.model_version_id)
    )
    return [
        {
            "evaluation_id": row.id,
            "model": row.model_version.name,
            "version": row.model_version.version,
            "ground_truth": row.ground_truth,
            "kind": row.kind,
            "images": row.images,
            "created_at": row.created_at.isoformat(),
            **{key: row.metrics[key] for key in SUMMARY_KEYS if key in row.metrics},
        }
        for row in rows
    ]
