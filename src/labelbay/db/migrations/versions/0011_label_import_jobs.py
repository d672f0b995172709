"""label import jobs: a job has a kind; a label import has no model of its own, counts its
progress while it reads, and keeps its report (problems with their places); like a task, a label
import is in the outbox until its message is published (`published_at`)

Images keep their sha256 since 0001 (indexed on project and hash since 0006), which content-hash
matching reads; nothing to add for it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import labelbay.db.base

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="inference")
        )
        batch_op.add_column(sa.Column("progress", JSON, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("report", JSON, nullable=True))
        batch_op.add_column(
            sa.Column("published_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("model_version_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE model_version_id IS NULL")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("model_version_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("published_at")
        batch_op.drop_column("report")
        batch_op.drop_column("progress")
        batch_op.drop_column("kind")
