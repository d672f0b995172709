"""imports and scale

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import labelbay.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column(
            "cursor_last_modified", labelbay.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_import_sources_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_sources")),
        sa.UniqueConstraint("project_id", "url", name="uq_import_sources_project_id"),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_url", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("source_etag", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("external", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_images_project_id_source_url", ["project_id", "source_url"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_project_id_source_url")
        batch_op.drop_column("external")
        batch_op.drop_column("source_etag")
        batch_op.drop_column("source_url")

    op.drop_table("import_sources")
