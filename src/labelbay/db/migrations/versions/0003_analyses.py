"""analyses

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import labelbay.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ml_signature_nonces",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_ml_signature_nonces")),
    )
    with op.batch_alter_table("ml_signature_nonces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ml_signature_nonces_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "ml_analyses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=False),
        sa.Column(
            "parameters", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("started_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_ml_analyses_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_ml_analyses_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_analyses")),
    )
    with op.batch_alter_table("ml_analyses", schema=None) as batch_op:
        batch_op.create_index("ix_ml_analyses_image_id_id", ["image_id", "id"], unique=False)

    op.create_table(
        "ml_analysis_annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Uuid(), nullable=False),
        sa.Column("annotation_type", sa.String(length=20), nullable=False),
        sa.Column("class_name", sa.String(length=200), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("storage_path", sa.String(length=512), nullable=True),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["ml_analyses.id"],
            name=op.f("fk_ml_analysis_annotations_analysis_id_ml_analyses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_analysis_annotations")),
    )
    with op.batch_alter_table("ml_analysis_annotations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ml_analysis_annotations_analysis_id_id", ["analysis_id", "id"], unique=False
        )

    op.create_table(
        "ml_analysis_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Uuid(), nullable=False),
        sa.Column("artifact_type", sa.String(length=50), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("storage_path", sa.String(length=512), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("verified_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", labelbay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["ml_analyses.id"],
            name=op.f("fk_ml_analysis_artifacts_analysis_id_ml_analyses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_analysis_artifacts")),
        sa.UniqueConstraint("storage_path", name="uq_ml_analysis_artifacts_storage_path"),
    )
    with op.batch_alter_table("ml_analysis_artifacts", schema=None) as batch_op:
        batch_op.create_index("ix_ml_analysis_artifacts_analysis_id", ["analysis_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ml_analysis_artifacts", schema=None) as batch_op:
        batch_op.drop_index("ix_ml_analysis_artifacts_analysis_id")

    op.drop_table("ml_analysis_artifacts")
    with op.batch_alter_table("ml_analysis_annotations", schema=None) as batch_op:
        batch_op.drop_index("ix_ml_analysis_annotations_analysis_id_id")

    op.drop_table("ml_analysis_annotations")
    with op.batch_alter_table("ml_analyses", schema=None) as batch_op:
        batch_op.drop_index("ix_ml_analyses_image_id_id")

    op.drop_table("ml_analyses")
    with op.batch_alter_table("ml_signature_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_signature_nonces_created_at"))

    op.drop_table("ml_signature_nonces")
