"""The migrations build exactly the schema the ORM models describe, on SQLite and on PostgreSQL.

Each test starts from an empty database (not the per-session template the other tests copy), runs
`alembic upgrade head`, and asks alembic's autogenerate to compare the models with what is there:
any difference means a model changed without a migration, or a migration drifted from the models.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from labelbay.db import models  # noqa: F401 - registers every table on Base.metadata
from labelbay.db.base import Base
from labelbay.db.migrate import alembic_config, current_revision, upgrade
from labelbay.db.session import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("empty_postgres_url")
    return url


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            with warnings.catch_warnings():
                if conn.dialect.name == "sqlite":
                    # SQLite cannot reflect an index on an expression; the models' one (the random
                    # queue's ring) is made on PostgreSQL only, where it is compared.
                    warnings.filterwarnings(
                        "ignore", "autogenerate skipping metadata-specified expression-based index"
                    )
                diff: list[Any] = compare_metadata(context, Base.metadata)
            return diff
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_upgrade_head_matches_the_models(empty_database_url: str) -> None:
    assert _tables(empty_database_url) == set()

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == _head()
    assert _tables(empty_database_url) == set(Base.metadata.tables)
    assert _differences(empty_database_url) == []


def test_required_tables_exist(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert {
        "users",
        "api_keys",
        "projects",
        "project_members",
        "labels",
        "images",
        "comments",
    } <= _tables(empty_database_url)


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    upgrade(empty_database_url)

    command.downgrade(config, "base")

    assert _tables(empty_database_url) == set()
    assert current_revision(empty_database_url) is None

    command.upgrade(config, "head")

    assert current_revision(empty_database_url) == _head()
    assert _differences(empty_database_url) == []


def test_every_revision_steps_down_and_up_one_at_a_time(empty_database_url: str) -> None:
    """Walk the history one step at a time, so a broken downgrade in the middle is caught too."""
    config = alembic_config(empty_database_url)
    script = ScriptDirectory.from_config(config)
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")][::-1]
    for revision in revisions:
        command.upgrade(config, revision)
        assert current_revision(empty_database_url) == revision
    for below in reversed([None, *revisions[:-1]]):
        command.downgrade(config, "-1")
        assert current_revision(empty_database_url) == below
    assert _tables(empty_database_url) == set()


def test_the_comparison_notices_drift(empty_database_url: str) -> None:
    """Guards the guard: a schema that lost an index must show up as a difference."""
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_images_project_id_sha256")
    finally:
        engine.dispose()
    found = [(d[0], d[1].name) for d in _differences(empty_database_url) if d[0] == "add_index"]
    assert ("add_index", "ix_images_project_id_sha256") in found
