"""evaluation progress and per-image confusion cells

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import labelbay.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("progress", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("started_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        # The outbox mark: NULL until the evaluation's message was handed over.
        batch.add_column(
            sa.Column("published_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("evaluations") as batch:
        batch.alter_column("progress", server_default=None)
    op.create_table(
        "evaluation_cells",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("gt_class", sa.Integer(), nullable=False),
        sa.Column("pred_class", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_evaluation_cells_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_evaluation_cells_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "evaluation_id", "gt_class", "pred_class", "image_id", name=op.f("pk_evaluation_cells")
        ),
    )
    op.create_index(
        "ix_evaluation_cells_evaluation_id_pred_class",
        "evaluation_cells",
        ["evaluation_id", "pred_class"],
    )


def downgrade() -> None:
    op.drop_index("ix_evaluation_cells_evaluation_id_pred_class", table_name="evaluation_cells")
    op.drop_table("evaluation_cells")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("published_at")
        batch.drop_column("started_at")
        batch.drop_column("progress")
        batch.drop_column("phase")
