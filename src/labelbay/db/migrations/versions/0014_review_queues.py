"""review queues: leases on images, prediction uncertainty, review events, model disagreement,
annotators per image

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-10
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import labelbay.db.base
from labelbay import labels

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DATETIME = labelbay.db.base.UTCDateTime(timezone=True)

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_PAGE = 2000

# Append-only history: an UPDATE is always refused; a DELETE only when its image is gone (the
# cascade from deleting an image or a project).
_PG_TRIGGERS = [
    """
    CREATE FUNCTION review_events_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' OR EXISTS (SELECT 1 FROM images WHERE id = OLD.image_id) THEN
            RAISE EXCEPTION 'review_events is append-only';
        END IF;
        RETURN OLD;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER review_events_append_only BEFORE UPDATE OR DELETE ON review_events
    FOR EACH ROW EXECUTE FUNCTION review_events_append_only()
    """,
]
_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER review_events_no_update BEFORE UPDATE ON review_events
    BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END
    """,
    """
    CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events
    WHEN EXISTS (SELECT 1 FROM images WHERE id = OLD.image_id)
    BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END
    """,
]


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("annotators_per_image", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", DATETIME, nullable=True))
        batch_op.add_column(sa.Column("lease_started_at", DATETIME, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_images_lease_user_id_users"),
            "users",
            ["lease_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_images_lease_user_id_project_id", ["lease_user_id", "project_id"], unique=False
        )
        batch_op.create_index(
            "ix_images_project_id_review_status_id",
            ["project_id", "review_status", "id"],
            unique=False,
        )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uncertainty", sa.Float(), nullable=True))
        batch_op.create_index(
            "ix_predictions_model_version_id_uncertainty",
            ["model_version_id", "uncertainty", "image_id"],
            unique=False,
        )
    _backfill_uncertainty()

    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_review_events_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_review_events_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_review_events_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_events")),
    )
    op.create_index("ix_review_events_image_id_id", "review_events", ["image_id", "id"])
    op.create_index(
        "ix_review_events_project_id_user_id", "review_events", ["project_id", "user_id"]
    )
    triggers = _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)

    op.create_table(
        "model_disagreements",
        sa.Column("model_version_a_id", sa.Integer(), nullable=False),
        sa.Column("model_version_b_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("disagreement", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_a_id"],
            ["model_versions.id"],
            name=op.f("fk_model_disagreements_model_version_a_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_b_id"],
            ["model_versions.id"],
            name=op.f("fk_model_disagreements_model_version_b_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_model_disagreements_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "model_version_a_id",
            "model_version_b_id",
            "image_id",
            name=op.f("pk_model_disagreements"),
        ),
    )
    op.create_index(
        "ix_model_disagreements_pair_disagreement",
        "model_disagreements",
        ["model_version_a_id", "model_version_b_id", "disagreement", "image_id"],
    )


def _backfill_uncertainty() -> None:
    """Existing predictions get their uncertainty, page by page on the primary key."""
    bind = op.get_bind()
    predictions = sa.table(
        "predictions",
        sa.column("id", sa.Integer()),
        sa.column("detections", JSON),
        sa.column("uncertainty", sa.Float()),
    )
    after = 0
    while True:
        page = bind.execute(
            sa.select(predictions.c.id, predictions.c.detections)
            .where(predictions.c.id > after)
            .order_by(predictions.c.id)
            .limit(BACKFILL_PAGE)
        ).all()
        if not page:
            return
        values: list[dict[str, Any]] = []
        for row in page:
            found = [labels.Label.model_validate(d) for d in row.detections or []]
            values.append({"row_id": row.id, "value": labels.uncertainty(found)})
        bind.execute(
            predictions.update()
            .where(predictions.c.id == sa.bindparam("row_id"))
            .values(uncertainty=sa.bindparam("value")),
            values,
        )
        after = page[-1].id


def downgrade() -> None:
    op.drop_index("ix_model_disagreements_pair_disagreement", table_name="model_disagreements")
    op.drop_table("model_disagreements")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER review_events_append_only ON review_events")
        op.execute("DROP FUNCTION review_events_append_only()")
    else:
        op.execute("DROP TRIGGER review_events_no_update")
        op.execute("DROP TRIGGER review_events_no_delete")
    op.drop_index("ix_review_events_project_id_user_id", table_name="review_events")
    op.drop_index("ix_review_events_image_id_id", table_name="review_events")
    op.drop_table("review_events")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_model_version_id_uncertainty")
        batch_op.drop_column("uncertainty")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_project_id_review_status_id")
        batch_op.drop_index("ix_images_lease_user_id_project_id")
        batch_op.drop_constraint(batch_op.f("fk_images_lease_user_id_users"), type_="foreignkey")
        batch_op.drop_column("lease_started_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_user_id")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("annotators_per_image")
