"""The counts the dashboard reads (`project_counts`, kept by triggers) equal a recount of the
rows after each way images, predictions and annotations are written: uploads, the job's upsert,
annotations made, relabelled and deleted, review verdicts, label imports (a re-run replaces),
an image deleted, a project deleted."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import delete, select, text

from labelbay import labels
from labelbay.db.counts import rebuild_project_counts
from labelbay.db.models import Annotation, Image, Prediction, ProjectCount
from labelbay.db.session import transaction
from labelbay.jobs.tasks import _upsert_predictions
from labelbay.services.stats import fold_counts, project_counts
from tests.exports.helpers import Labelled, export
from tests.imports.test_label_import import _import, _source, _target
from tests.support.stack import Stack


def _recount(stack: Stack, project_id: int) -> dict[str, dict[str, int]]:
    """The counts as the rows say, in Python."""
    counts: dict[str, Counter[str]] = {
        name: Counter()
        for name in ("images", "reviewer", "model_images", "model_labels", "predicted", "annotated")
    }
    with stack.context.sessions() as session:
        images = session.scalars(select(Image).where(Image.project_id == project_id)).all()
        for image in images:
            counts["images"][image.review_status] += 1
            if image.review_status == "reviewed" and image.reviewed_by_id is not None:
                counts["reviewer"][str(image.reviewed_by_id)] += 1
        ids = [image.id for image in images]
        for row in session.scalars(select(Prediction).where(Prediction.image_id.in_(ids))):
            version = str(row.model_version_id)
            counts["model_images"][version] += 1
            counts["model_labels"][version] += row.num_detections
            for label in row.detections:
                counts["predicted"][f"{version}:{label['label']}"] += 1
        for row in session.scalars(select(Annotation).where(Annotation.image_id.in_(ids))):
            counts["annotated"][f"{row.created_at.date().isoformat()} {row.label}"] += 1
    return {name: {k: n for k, n in c.items() if n} for name, c in counts.items() if +c}


def _kept(stack: Stack, project_id: int) -> dict[str, dict[str, int]]:
    with stack.context.sessions() as session:
        return dict(project_counts(session, project_id=project_id))


def _check(stack: Stack, *projects: int) -> None:
    for project_id in projects:
        assert _kept(stack, project_id) == _recount(stack, project_id)


def _relabel_and_delete(stack: Stack, source: Labelled) -> None:
    first, second = source.image_ids[:2]
    rows = stack.client.get(f"/api/v1/images/{first}/annotations", headers=source.headers).json()
    answer = stack.client.patch(
        f"/api/v1/annotations/{rows[0]['id']}", json={"label": "dog"}, headers=source.headers
    )
    assert answer.status_code == 200, answer.text
    answer = stack.client.delete(f"/api/v1/annotations/{rows[1]['id']}", headers=source.headers)
    assert answer.status_code == 204, answer.text
    answer = stack.client.post(
        f"/api/v1/images/{second}/review", json={"status": "reviewed"}, headers=source.headers
    )
    assert answer.status_code == 200, answer.text


def test_kept_counts_equal_a_recount_after_every_write(stack: Stack) -> None:
    source = _source(stack)  # uploads, predictions added, annotations made through the API
    _check(stack, source.project_id)
    assert _kept(stack, source.project_id)["predicted"]  # something is counted at all

    _relabel_and_delete(stack, source)
    _check(stack, source.project_id)

    # the job's write: a re-run of the model replaces an image's labels
    with transaction(stack.context.sessions) as session:
        row = session.scalars(
            select(Prediction).where(Prediction.image_id == source.image_ids[0])
        ).one()
        found = [labels.make("circle", "bird", {"cx": 9, "cy": 9, "r": 5}, score=0.5).to_json()]
        _upsert_predictions(
            session,
            [
                {
                    "image_id": row.image_id,
                    "model_version_id": row.model_version_id,
                    "detections": found,
                    "num_detections": len(found),
                }
            ],
        )
    _check(stack, source.project_id)

    target = _target(stack, source)
    for _ in range(2):  # a re-run of an import replaces what the first one stored
        data = export(stack, source, format="coco", source="predictions").content
        _import(stack, source, target, data, format="coco", target="predictions", model="other")
        data = export(stack, source, format="coco", source="annotations").content
        _import(stack, source, target, data, format="coco", target="annotations")
        _check(stack, source.project_id, target)

    answer = stack.client.delete(f"/api/v1/images/{source.image_ids[0]}", headers=source.headers)
    assert answer.status_code == 204, answer.text
    _check(stack, source.project_id, target)

    answer = stack.client.delete(f"/api/v1/projects/{target}", headers=source.headers)
    assert answer.status_code == 204, answer.text
    with stack.context.sessions() as session:
        left = session.scalars(select(ProjectCount).where(ProjectCount.project_id == target))
        assert left.all() == []
    _check(stack, source.project_id)


def test_counts_of_ended_connections_fold_into_one_row_set(stack: Stack) -> None:
    """PostgreSQL keeps a row set per connection; once those connections end, `fold_counts` adds
    them into slot 0 and the figures stay the same. SQLite has nothing to fold."""
    source = _source(stack)
    _relabel_and_delete(stack, source)
    before = _kept(stack, source.project_id)
    with stack.context.sessions() as session:
        engine = session.get_bind()
        slots = set(session.scalars(select(ProjectCount.slot).where(ProjectCount.slot != 0)))
    postgres = engine.dialect.name == "postgresql"
    assert bool(slots) == postgres  # the writes above went through connections of their own
    engine.dispose()  # ends every connection of the pool: their backends exit
    if postgres:
        with stack.context.sessions() as session:
            for _ in range(100):
                live = session.scalars(
                    text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": list(slots)},
                ).all()
                if not live:
                    break
                time.sleep(0.05)
            assert live == []
    with transaction(stack.context.sessions) as session:
        folded = fold_counts(session)
    assert (folded > 0) == postgres
    with stack.context.sessions() as session:
        rows = session.scalars(
            select(ProjectCount).where(ProjectCount.project_id == source.project_id)
        ).all()
    assert {row.slot for row in rows} == {0}
    assert all(row.n != 0 for row in rows)
    assert _kept(stack, source.project_id) == before == _recount(stack, source.project_id)


def test_a_rebuild_counts_the_rows_of_its_project_only(stack: Stack) -> None:
    """What bulk loads (triggers off) and migration 0015 run: one project's counts replaced by a
    count of its rows, every other project's left as they were; with no project, all of them."""
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="coco", source="annotations").content
    _import(stack, source, target, data, format="coco", target="annotations")
    with transaction(stack.context.sessions) as session:
        session.execute(delete(ProjectCount))  # as after a load with the triggers off
    with transaction(stack.context.sessions) as session:
        rebuild_project_counts(session.connection(), project_id=source.project_id)
    _check(stack, source.project_id)
    assert _kept(stack, target) == {}
    with transaction(stack.context.sessions) as session:
        rebuild_project_counts(session.connection())
    _check(stack, source.project_id, target)
