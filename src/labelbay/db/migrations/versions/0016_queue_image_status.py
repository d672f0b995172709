"""the uncertain and disagreement review queues walk only images in the state asked for:
`predictions` and `model_disagreements` keep a copy of their image's `review_status`
(`image_status`), and their queue indexes lead with it, so reviewed images at the front of the
order no longer cost a look-up each; disagreements get an index by image, for the state's copy

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-13
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: (old index, new index, columns before the image status, columns after it)
INDEXES = {
    "predictions": (
        "ix_predictions_model_version_id_uncertainty",
        "ix_predictions_model_version_id_image_status_uncertainty",
        ["model_version_id"],
        ["uncertainty", "image_id"],
    ),
    "model_disagreements": (
        "ix_model_disagreements_pair_disagreement",
        "ix_model_disagreements_pair_image_status_disagreement",
        ["model_version_a_id", "model_version_b_id"],
        ["disagreement", "image_id"],
    ),
}
IMAGES = sa.table("images", sa.column("id"), sa.column("review_status"))
BY_IMAGE = "ix_model_disagreements_image_id"


def upgrade() -> None:
    for table, (old, new, before, after) in INDEXES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "image_status", sa.String(20), nullable=False, server_default="unreviewed"
                )
            )
        # Rows of images past `unreviewed` (the default) take their image's state: one
        # statement, a correlated subquery that reads the same on SQLite and PostgreSQL.
        rows = sa.table(table, sa.column("image_id"), sa.column("image_status"))
        status = sa.select(IMAGES.c.review_status).where(IMAGES.c.id == rows.c.image_id)
        done = sa.select(IMAGES.c.id).where(IMAGES.c.review_status != "unreviewed")
        op.execute(
            rows.update()
            .where(rows.c.image_id.in_(done))
            .values(image_status=status.scalar_subquery())
        )
        op.drop_index(old, table_name=table)
        op.create_index(new, table, [*before, "image_status", *after])
    # A state change updates an image's disagreements: found by image, not by a scan.
    op.create_index(BY_IMAGE, "model_disagreements", ["image_id"])


def downgrade() -> None:
    op.drop_index(BY_IMAGE, table_name="model_disagreements")
    for table, (old, new, before, after) in INDEXES.items():
        op.drop_index(new, table_name=table)
        op.create_index(old, table, [*before, *after])
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("image_status")
