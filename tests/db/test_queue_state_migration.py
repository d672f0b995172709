"""Migration 0016 gives existing predictions and disagreements their image's review state on
SQLite and PostgreSQL, and its downgrade keeps every row."""

from __future__ import annotations

from alembic import command
from sqlalchemy.orm import Session

from labelbay.db.migrate import alembic_config, upgrade
from labelbay.db.models import ModelVersion
from labelbay.db.session import make_engine
from tests.support.migration_rows import execute, project_images, stored_uuid

STATES = ["reviewed", "unreviewed", "rejected"]  # of three images


def _rows_at_0015(url: str) -> None:
    """Three images in three states, each with a prediction of two versions and a disagreement
    between them, written as revision 0015 did (no copy of the state)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            _, images = project_images(session, STATES)
            versions = [
                ModelVersion(name="det", version=str(n), task="detect", format="builtin")
                for n in (1, 2)
            ]
            session.add_all(versions)
            session.flush()
            a, b = (v.id for v in versions)
            ids = [stored_uuid(url, image.id.hex) for image in images]
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "0015")
    execute(
        url,
        "INSERT INTO predictions (image_id, model_version_id, detections, num_detections, "
        "review, processing_time_ms, created_at, updated_at) "
        "VALUES (:i, :v, '[]', 0, '{}', 1.0, '2026-01-01', '2026-01-01')",
        [{"i": image_id, "v": v} for image_id in ids for v in (a, b)],
    )
    execute(
        url,
        "INSERT INTO model_disagreements (model_version_a_id, model_version_b_id, image_id, "
        "disagreement) VALUES (:a, :b, :i, 0.5)",
        [{"a": a, "b": b, "i": image_id} for image_id in ids],
    )


def test_existing_rows_get_their_images_state_and_the_downgrade_keeps_them(
    database_url: str,
) -> None:
    _rows_at_0015(database_url)

    upgrade(database_url)

    for table in ("predictions", "model_disagreements"):
        pairs = execute(
            database_url,
            f"SELECT t.image_status, images.review_status FROM {table} t "
            "JOIN images ON images.id = t.image_id",
        )
        assert sorted(status for status, _ in pairs) == sorted(
            STATES * (2 if table == "predictions" else 1)
        )
        assert all(status == state for status, state in pairs)

    command.downgrade(alembic_config(database_url), "0015")

    assert execute(database_url, "SELECT count(*) FROM predictions")[0][0] == 6
    assert execute(database_url, "SELECT count(*) FROM model_disagreements")[0][0] == 3
