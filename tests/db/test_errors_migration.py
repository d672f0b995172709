"""Migration 0015 gives existing evaluation rows their `errors` (false positives + missed
labels) on SQLite and PostgreSQL, rows written later get it from the database, and its downgrade
keeps every row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from labelbay.db.migrate import alembic_config, upgrade
from labelbay.db.models import Evaluation, Image, ModelVersion, Project, User
from labelbay.db.session import make_engine

OUTCOMES = [(0, 0), (3, 1), (0, 2)]  # (fp, fn) of three images


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    url: str = request.getfixturevalue("empty_postgres_url")
    return url


def _execute(url: str, sql: str, params: list[dict[str, Any]] | None = None) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params) if params else conn.execute(text(sql))
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _evaluation_at_0014(url: str) -> tuple[int, list[str]]:
    """An evaluation of three images, its rows written as revision 0014 did (no `errors`)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            user = User(email="a@example.com", password_hash="x", display_name="a")
            session.add(user)
            session.flush()
            project = Project(name="p", created_by_id=user.id)
            version = ModelVersion(name="det", version="1", task="detect", format="builtin")
            session.add_all([project, version])
            session.flush()
            images = [
                Image(
                    project_id=project.id,
                    original_filename=f"{i}.jpg",
                    storage_key=f"images/{i}.jpg",
                    mime_type="image/jpeg",
                    size_bytes=10,
                    sha256="0" * 64,
                    width=64,
                    height=64,
                )
                for i in range(len(OUTCOMES))
            ]
            evaluation = Evaluation(
                project_id=project.id,
                model_version_id=version.id,
                ground_truth="annotations",
                status="completed",
            )
            session.add_all([*images, evaluation])
            session.flush()
            ids = evaluation.id, [image.id.hex for image in images]
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "0014")
    _execute(
        url,
        "INSERT INTO evaluation_images (evaluation_id, image_id, tp, fp, fn, outcomes) "
        "VALUES (:e, :i, 0, :fp, :fn, '{}')",
        [
            {"e": ids[0], "i": _uuid(url, image_id), "fp": fp, "fn": fn}
            for image_id, (fp, fn) in zip(ids[1], OUTCOMES, strict=True)
        ],
    )
    return ids


def _uuid(url: str, hex_id: str) -> str:
    """How each database stores a UUID: SQLite as 32 hex digits, PostgreSQL as a uuid."""
    if url.startswith("sqlite"):
        return hex_id
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def test_existing_and_new_rows_get_their_errors_and_the_downgrade_keeps_them(
    database_url: str,
) -> None:
    evaluation_id, _ = _evaluation_at_0014(database_url)

    upgrade(database_url)

    errors = "SELECT fp, fn, errors FROM evaluation_images ORDER BY errors"
    assert _execute(database_url, errors) == sorted(
        [(fp, fn, fp + fn) for fp, fn in OUTCOMES], key=lambda row: row[2]
    )
    _execute(database_url, "UPDATE evaluation_images SET fp = fp + 10 WHERE fn = 2")
    assert [row[2] for row in _execute(database_url, errors)] == [0, 4, 12]

    command.downgrade(alembic_config(database_url), "0014")

    left = _execute(database_url, "SELECT fp, fn FROM evaluation_images ORDER BY fp")
    assert left == [(0, 0), (3, 1), (10, 2)]
    assert evaluation_id == _execute(database_url, "SELECT id FROM evaluations")[0][0]
