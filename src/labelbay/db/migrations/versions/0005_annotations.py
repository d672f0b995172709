"""annotations and review

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import labelbay.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column(
            "geometry", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_annotations_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_annotations_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_annotations_model_version_id_model_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.create_index("ix_annotations_image_id_id", ["image_id", "id"], unique=False)

    with op.batch_alter_table("images", schema=None) as batch_op:
        # Existing rows get the defaults.
        batch_op.add_column(
            sa.Column(
                "review_status",
                sa.String(length=20),
                nullable=False,
                server_default="unreviewed",
            )
        )
        batch_op.add_column(sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("reviewed_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_images_reviewed_by_id_users"),
            "users",
            ["reviewed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "review",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )


def downgrade() -> None:

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("review")

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_images_reviewed_by_id_users"), type_="foreignkey")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by_id")
        batch_op.drop_column("review_status")

    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index("ix_annotations_image_id_id")

    op.drop_table("annotations")
