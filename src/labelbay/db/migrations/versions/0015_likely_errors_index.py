"""the likely-errors review queue walks an index: `evaluation_images.errors` (false positives +
missed labels, a column the database computes from `fp` and `fn`) indexed with the evaluation
and the image, so the queue's next image no longer costs a sort of the evaluation's rows

SQLite can add a stored generated column only in a CREATE TABLE: the batch copies the table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_evaluation_images_evaluation_id_errors"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "evaluation_images", recreate="always" if sqlite else "auto"
    ) as batch_op:
        batch_op.add_column(
            sa.Column(
                "errors", sa.Integer(), sa.Computed("fp + fn", persisted=True), nullable=False
            )
        )
    op.create_index(INDEX, "evaluation_images", ["evaluation_id", "errors", "image_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="evaluation_images")
    with op.batch_alter_table("evaluation_images") as batch_op:
        batch_op.drop_column("errors")
