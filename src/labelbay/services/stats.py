"""A project's dashboard figures, read from the counts the database keeps (`ProjectCount`).

Images and reviewed images (and by whom); images predicted and labels found per model version;
labels per class, annotated and predicted by one model version; annotations added per day; the
latest completed evaluation of each model version. Triggers keep the counts wherever images,
predictions and annotations are written (migration 0017), so the figures are one index range
scan over a few hundred rows, however many images and labels the project holds.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from labelbay.db.base import utcnow
from labelbay.db.models import Evaluation, ModelVersion, ProjectCount, User

DAYS = 30
SUMMARY_KEYS = ("map", "ap50", "ap75", "accuracy", "top5_accuracy")


def project_counts(session: Session, *, project_id: int) -> dict[str, dict[str, int]]:
    """The project's counts by name and key (see `ProjectCount`), those that are not zero."""
    total = func.sum(ProjectCount.n)
    rows = session.execute(
        select(ProjectCount.name, ProjectCount.key, total)
        .where(ProjectCount.project_id == project_id)
        .group_by(ProjectCount.name, ProjectCount.key)
        .having(total != 0)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for name, key, n in rows:
        counts[name][key] = int(n)
    return counts


# One folder at a time across processes (a transaction-scoped advisory lock; the number is ours).
_FOLD_LOCK = 0x1ABE1BA7
_FOLD = text(
    """
    WITH gone AS (
        DELETE FROM project_counts
        WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
        RETURNING project_id, name, key, n
    )
    INSERT INTO project_counts (project_id, name, key, slot, n)
    SELECT project_id, name, key, 0, sum(n) FROM gone GROUP BY project_id, name, key
    ON CONFLICT (project_id, name, key, slot) DO UPDATE SET n = project_counts.n + EXCLUDED.n
    """
)


def fold_counts(session: Session) -> int:
    """PostgreSQL: add the count rows of backends that have ended (their `slot`, a process id,
    no longer connected) into slot 0, and drop the rows that sum to nothing, so the table holds
    about one row set per live connection plus one, however many connections came and went. Returns
    the rows folded (0 on SQLite, where every row is slot 0, or while another process folds)."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    if not session.scalar(select(func.pg_try_advisory_xact_lock(_FOLD_LOCK))):
        return 0
    folded = session.execute(_FOLD).rowcount  # type: ignore[attr-defined]
    session.execute(text("DELETE FROM project_counts WHERE slot = 0 AND n = 0"))
    return int(folded)


def project_stats(
    session: Session, *, project_id: int, model_version_id: int | None
) -> dict[str, Any]:
    """The figures; labels per class are predicted by `model_version_id` (none if None)."""
    counts = project_counts(session, project_id=project_id)
    reviewers = counts["reviewer"]
    users = session.execute(
        select(User.id, User.email, User.display_name).where(User.id.in_(map(int, reviewers)))
    ).all()
    model_images = {int(key): n for key, n in counts["model_images"].items()}
    versions = session.execute(
        select(ModelVersion.id, ModelVersion.name, ModelVersion.version)
        .where(ModelVersion.id.in_(model_images))
        .order_by(ModelVersion.id)
    ).all()
    since = str((utcnow() - timedelta(days=DAYS)).date())
    per_day: dict[str, int] = defaultdict(int)
    classes: dict[str, dict[str, int]] = {}
    for key, n in counts["annotated"].items():
        day, label = key[:10], key[11:]
        classes.setdefault(label, {"annotated": 0, "predicted": 0})["annotated"] += n
        if day >= since:
            per_day[day] += n
    prefix = f"{model_version_id}:"
    for key, n in counts["predicted"].items():
        if model_version_id is not None and key.startswith(prefix):
            label = key[len(prefix) :]
            classes.setdefault(label, {"annotated": 0, "predicted": 0})["predicted"] = n
    images = counts["images"]
    return {
        "images": sum(images.values()),
        "reviewed": images.get("reviewed", 0),
        "reviewers": sorted(
            (
                {
                    "user_id": uid,
                    "email": email,
                    "display_name": name,
                    "images": reviewers[str(uid)],
                }
                for uid, email, name in users
            ),
            key=lambda reviewer: (-reviewer["images"], reviewer["user_id"]),
        ),
        "models": [
            {
                "model_version_id": mid,
                "model": name,
                "version": version,
                "images": model_images[mid],
                "labels": counts["model_labels"].get(str(mid), 0),
            }
            for mid, name, version in versions
        ],
        "labels_model_version_id": model_version_id,
        "labels": [{"label": name, **n} for name, n in sorted(classes.items())],
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
