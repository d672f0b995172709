"""task outbox and leases

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import labelbay.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing tasks start unpublished: queued ones stranded by a lost publish get sent by the
    # dispatcher; one whose message is still in the broker runs twice, which changes nothing.
    with op.batch_alter_table("job_tasks") as batch:
        batch.add_column(
            sa.Column("published_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("lease_until", labelbay.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ix_job_tasks_status_published_at", "job_tasks", ["status", "published_at"], unique=False
    )
    op.create_index(
        "ix_job_tasks_status_lease_until", "job_tasks", ["status", "lease_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_job_tasks_status_lease_until", table_name="job_tasks")
    op.drop_index("ix_job_tasks_status_published_at", table_name="job_tasks")
    with op.batch_alter_table("job_tasks") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("published_at")
