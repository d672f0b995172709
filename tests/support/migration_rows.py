"""Rows for the data migrations' tests: parents made with today's models at head, raw SQL for
what an older revision wrote after the schema is taken down to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from labelbay.db.models import Image, Project, User
from labelbay.db.session import make_engine


def execute(url: str, sql: str, params: list[dict[str, Any]] | None = None) -> list[Any]:
    """Run one statement in its own transaction; its rows, if it returns any."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params) if params else conn.execute(text(sql))
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def stored_uuid(url: str, hex_id: str) -> str:
    """How each database stores a UUID: SQLite as 32 hex digits, PostgreSQL as a uuid."""
    if url.startswith("sqlite"):
        return hex_id
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def project_images(
    session: Session, states: Sequence[str], *, size: int = 64
) -> tuple[Project, list[Image]]:
    """A user's project and one square image per review state, flushed."""
    user = User(email="a@example.com", password_hash="x", display_name="a")
    session.add(user)
    session.flush()
    project = Project(name="p", created_by_id=user.id)
    session.add(project)
    session.flush()
    images = [
        Image(
            project_id=project.id,
            original_filename=f"{i}.jpg",
            storage_key=f"images/{i}.jpg",
            mime_type="image/jpeg",
            size_bytes=10,
            sha256="0" * 64,
            width=size,
            height=size,
            review_status=state,
        )
        for i, state in enumerate(states)
    ]
    session.add_all(images)
    session.flush()
    return project, images
