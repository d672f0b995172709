"""the seeded random review queue walks an index instead of sorting the project: each image's
place on a ring is md5 of its id (32 hex digits), indexed with the project and the review state
on PostgreSQL; a seed picks where on the ring the queue starts. SQLite gets no index: its md5 is
a function labelbay registers, which other programs opening the file would not have.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_images_project_id_review_status_ring"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX {INDEX} ON images "
            "(project_id, review_status, md5(replace(CAST(id AS VARCHAR), '-', '')))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {INDEX}")
