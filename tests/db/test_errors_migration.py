"""Migration 0015 gives existing evaluation rows their `errors` (false positives + missed
labels) on SQLite and PostgreSQL, rows written later get it from the database, and its downgrade
keeps every row."""

from __future__ import annotations

from alembic import command
from sqlalchemy.orm import Session

from labelbay.db.migrate import alembic_config, upgrade
from labelbay.db.models import Evaluation, ModelVersion
from labelbay.db.session import make_engine
from tests.support.migration_rows import execute, project_images, stored_uuid

OUTCOMES = [(0, 0), (3, 1), (0, 2)]  # (fp, fn) of three images


def _evaluation_at_0014(url: str) -> tuple[int, list[str]]:
    """An evaluation of three images, its rows written as revision 0014 did (no `errors`)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            project, images = project_images(session, ["unreviewed"] * len(OUTCOMES))
            version = ModelVersion(name="det", version="1", task="detect", format="builtin")
            session.add(version)
            session.flush()
            evaluation = Evaluation(
                project_id=project.id,
                model_version_id=version.id,
                ground_truth="annotations",
                status="completed",
            )
            session.add(evaluation)
            session.flush()
            ids = evaluation.id, [image.id.hex for image in images]
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "0014")
    execute(
        url,
        "INSERT INTO evaluation_images (evaluation_id, image_id, tp, fp, fn, outcomes) "
        "VALUES (:e, :i, 0, :fp, :fn, '{}')",
        [
            {"e": ids[0], "i": stored_uuid(url, image_id), "fp": fp, "fn": fn}
            for image_id, (fp, fn) in zip(ids[1], OUTCOMES, strict=True)
        ],
    )
    return ids


def test_existing_and_new_rows_get_their_errors_and_the_downgrade_keeps_them(
    database_url: str,
) -> None:
    evaluation_id, _ = _evaluation_at_0014(database_url)

    upgrade(database_url)

    errors = "SELECT fp, fn, errors FROM evaluation_images ORDER BY errors"
    assert execute(database_url, errors) == sorted(
        [(fp, fn, fp + fn) for fp, fn in OUTCOMES], key=lambda row: row[2]
    )
    execute(database_url, "UPDATE evaluation_images SET fp = fp + 10 WHERE fn = 2")
    assert [row[2] for row in execute(database_url, errors)] == [0, 4, 12]

    command.downgrade(alembic_config(database_url), "0014")

    left = execute(database_url, "SELECT fp, fn FROM evaluation_images ORDER BY fp")
    assert left == [(0, 0), (3, 1), (10, 2)]
    assert evaluation_id == execute(database_url, "SELECT id FROM evaluations")[0][0]
