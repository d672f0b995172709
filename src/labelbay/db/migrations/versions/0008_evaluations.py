"""evaluations

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import labelbay.db.base

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("ground_truth", sa.String(length=20), nullable=False),
        sa.Column("gt_model_version_id", sa.Integer(), nullable=True),
        sa.Column("selection", JSON, nullable=False),
        sa.Column("iou_threshold", sa.Float(), nullable=False),
        sa.Column("score_threshold", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_evaluations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["gt_model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_gt_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_evaluations_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    op.create_index("ix_evaluations_project_id_id", "evaluations", ["project_id", "id"])
    op.create_table(
        "evaluation_images",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("tp", sa.Integer(), nullable=False),
        sa.Column("fp", sa.Integer(), nullable=False),
        sa.Column("fn", sa.Integer(), nullable=False),
        sa.Column("outcomes", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_evaluation_images_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_evaluation_images_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evaluation_id", "image_id", name=op.f("pk_evaluation_images")),
    )
    op.create_index(
        "ix_evaluation_images_evaluation_id_fn", "evaluation_images", ["evaluation_id", "fn"]
    )
    op.create_index(
        "ix_evaluation_images_evaluation_id_fp", "evaluation_images", ["evaluation_id", "fp"]
    )


def downgrade() -> None:
    op.drop_index("ix_evaluation_images_evaluation_id_fp", table_name="evaluation_images")
    op.drop_index("ix_evaluation_images_evaluation_id_fn", table_name="evaluation_images")
    op.drop_table("evaluation_images")
    op.drop_index("ix_evaluations_project_id_id", table_name="evaluations")
    op.drop_table("evaluations")
