"""project_counts: the dashboard's figures kept by triggers, backfilled from the rows

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from labelbay.db.counts import rebuild_project_counts

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: each backend adds to its own rows (`slot` = its process id), so two transactions
# never wait on one count row and cannot deadlock on them; a figure is the sum over slots.
# A prediction's or annotation's image finds its project; when the image is being deleted, its
# BEFORE DELETE trigger has taken its labels off already (the cascade then finds no image), and
# when the project is being deleted nothing is counted (its counts go with it).
_PG = [
    """
    CREATE FUNCTION project_counts_add(p integer, what text, k text, d bigint) RETURNS void AS $$
        INSERT INTO project_counts (project_id, name, key, slot, n)
        VALUES (p, what, k, pg_backend_pid(), d)
        ON CONFLICT (project_id, name, key, slot) DO UPDATE SET n = project_counts.n + EXCLUDED.n
    $$ LANGUAGE sql
    """,
    """
    CREATE FUNCTION project_counts_prediction(p integer, mv integer, labels jsonb, num integer,
                                              sign integer) RETURNS void AS $$
    BEGIN
        PERFORM project_counts_add(p, 'model_images', mv::text, sign);
        PERFORM project_counts_add(p, 'model_labels', mv::text, sign * num);
        INSERT INTO project_counts (project_id, name, key, slot, n)
        SELECT p, 'predicted', mv::text || ':' || (d->>'label'), pg_backend_pid(), sign * count(*)
        FROM jsonb_array_elements(labels) AS d GROUP BY 3
        ON CONFLICT (project_id, name, key, slot) DO UPDATE SET n = project_counts.n + EXCLUDED.n;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION project_counts_image(i images, sign integer) RETURNS void AS $$
    BEGIN
        PERFORM project_counts_add(i.project_id, 'images', i.review_status, sign);
        IF i.review_status = 'reviewed' AND i.reviewed_by_id IS NOT NULL THEN
            PERFORM project_counts_add(i.project_id, 'reviewer', i.reviewed_by_id::text, sign);
        END IF;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION project_counts_images() RETURNS trigger AS $$
    DECLARE
        r record;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM project_counts_image(NEW, 1);
            RETURN NULL;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM projects WHERE id = OLD.project_id) THEN
            RETURN OLD;  -- the project's deletion: its counts go with it
        END IF;
        PERFORM project_counts_image(OLD, -1);
        IF TG_OP = 'UPDATE' THEN
            PERFORM project_counts_image(NEW, 1);
            RETURN NULL;
        END IF;
        FOR r IN SELECT model_version_id, detections, num_detections FROM predictions
                 WHERE image_id = OLD.id LOOP
            PERFORM project_counts_prediction(
                OLD.project_id, r.model_version_id, r.detections, r.num_detections, -1);
        END LOOP;
        INSERT INTO project_counts (project_id, name, key, slot, n)
        SELECT OLD.project_id, 'annotated',
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' ' || label,
            pg_backend_pid(), -count(*)
        FROM annotations WHERE image_id = OLD.id GROUP BY 3
        ON CONFLICT (project_id, name, key, slot) DO UPDATE SET n = project_counts.n + EXCLUDED.n;
        RETURN OLD;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER project_counts_images_write AFTER INSERT OR UPDATE OF project_id, review_status,
        reviewed_by_id ON images FOR EACH ROW EXECUTE FUNCTION project_counts_images()
    """,
    """
    CREATE TRIGGER project_counts_images_delete BEFORE DELETE ON images
        FOR EACH ROW EXECUTE FUNCTION project_counts_images()
    """,
    """
    CREATE FUNCTION project_counts_predictions() RETURNS trigger AS $$
    DECLARE
        p integer;
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            SELECT project_id INTO p FROM images WHERE id = OLD.image_id;
            IF p IS NOT NULL THEN
                PERFORM project_counts_prediction(
                    p, OLD.model_version_id, OLD.detections, OLD.num_detections, -1);
            END IF;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            SELECT project_id INTO p FROM images WHERE id = NEW.image_id;
            PERFORM project_counts_prediction(
                p, NEW.model_version_id, NEW.detections, NEW.num_detections, 1);
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER project_counts_predictions AFTER INSERT OR DELETE OR UPDATE OF image_id,
        model_version_id, detections, num_detections ON predictions
        FOR EACH ROW EXECUTE FUNCTION project_counts_predictions()
    """,
    """
    CREATE FUNCTION project_counts_annotations() RETURNS trigger AS $$
    DECLARE
        p integer;
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            SELECT project_id INTO p FROM images WHERE id = OLD.image_id;
            IF p IS NOT NULL THEN
                PERFORM project_counts_add(p, 'annotated', to_char(OLD.created_at AT TIME ZONE
                    'UTC', 'YYYY-MM-DD') || ' ' || OLD.label, -1);
            END IF;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            SELECT project_id INTO p FROM images WHERE id = NEW.image_id;
            PERFORM project_counts_add(p, 'annotated', to_char(NEW.created_at AT TIME ZONE 'UTC',
                'YYYY-MM-DD') || ' ' || NEW.label, 1);
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER project_counts_annotations AFTER INSERT OR DELETE OR UPDATE OF image_id, label,
        created_at ON annotations FOR EACH ROW EXECUTE FUNCTION project_counts_annotations()
    """,
]
_PG_DROP = [
    "DROP TRIGGER project_counts_annotations ON annotations",
    "DROP FUNCTION project_counts_annotations()",
    "DROP TRIGGER project_counts_predictions ON predictions",
    "DROP FUNCTION project_counts_predictions()",
    "DROP TRIGGER project_counts_images_delete ON images",
    "DROP TRIGGER project_counts_images_write ON images",
    "DROP FUNCTION project_counts_images()",
    "DROP FUNCTION project_counts_image(images, integer)",
    "DROP FUNCTION project_counts_prediction(integer, integer, jsonb, integer, integer)",
    "DROP FUNCTION project_counts_add(integer, text, text, bigint)",
]


def _sqlite_add(project: str, name: str, key: str, n: str, source: str = "") -> str:
    """An upsert of one count (or of a grouped SELECT's counts, `source` its FROM … GROUP BY)."""
    return (
        f"INSERT INTO project_counts (project_id, name, key, slot, n) "
        f"SELECT {project}, '{name}', {key}, 0, {n} {source or 'WHERE true'} "
        "ON CONFLICT (project_id, name, key, slot) DO UPDATE SET n = n + excluded.n;"
    )


def _sqlite_image(row: str, sign: str) -> str:
    return _sqlite_add(f"{row}.project_id", "images", f"{row}.review_status", sign) + _sqlite_add(
        f"{row}.project_id",
        "reviewer",
        f"CAST({row}.reviewed_by_id AS TEXT)",
        sign,
        f"WHERE {row}.review_status = 'reviewed' AND {row}.reviewed_by_id IS NOT NULL",
    )


def _sqlite_prediction(project: str, row: str, sign: str) -> str:
    mv = f"CAST({row}.model_version_id AS TEXT)"
    return (
        _sqlite_add(project, "model_images", mv, sign, f"WHERE {project} IS NOT NULL")
        + _sqlite_add(
            project, "model_labels", mv, f"{sign} * {row}.num_detections",
            f"WHERE {project} IS NOT NULL",
        )
        + _sqlite_add(
            project,
            "predicted",
            f"{mv} || ':' || json_extract(d.value, '$.label')",
            f"{sign} * count(*)",
            f"FROM json_each({row}.detections) AS d WHERE {project} IS NOT NULL GROUP BY 3",
        )
    )  # fmt: skip


def _sqlite_annotation(project: str, row: str, sign: str) -> str:
    key = f"substr({row}.created_at, 1, 10) || ' ' || {row}.label"
    return _sqlite_add(project, "annotated", key, sign, f"WHERE {project} IS NOT NULL")


def _project_of(row: str) -> str:
    """The project of the image of trigger row `row` ("NEW" or "OLD"; no outside values)."""
    return f"(SELECT project_id FROM images WHERE id = {row}.image_id)"  # noqa: S608


_PROJECT_LIVES = "EXISTS (SELECT 1 FROM projects WHERE id = OLD.project_id)"
# SQLite has no functions to share: each trigger spells its statements out (built above).
_SQLITE = [
    f"""CREATE TRIGGER project_counts_images_insert AFTER INSERT ON images
    BEGIN {_sqlite_image("NEW", "1")} END""",
    f"""CREATE TRIGGER project_counts_images_update AFTER UPDATE OF project_id, review_status,
    reviewed_by_id ON images WHEN {_PROJECT_LIVES}
    BEGIN {_sqlite_image("OLD", "-1")} {_sqlite_image("NEW", "1")} END""",
    f"""CREATE TRIGGER project_counts_images_delete BEFORE DELETE ON images WHEN {_PROJECT_LIVES}
    BEGIN {_sqlite_image("OLD", "-1")}
    {
        _sqlite_add(
            "OLD.project_id",
            "model_images",
            "CAST(p.model_version_id AS TEXT)",
            "-count(*)",
            "FROM predictions p WHERE p.image_id = OLD.id GROUP BY 3",
        )
    }
    {
        _sqlite_add(
            "OLD.project_id",
            "model_labels",
            "CAST(p.model_version_id AS TEXT)",
            "-sum(p.num_detections)",
            "FROM predictions p WHERE p.image_id = OLD.id GROUP BY 3",
        )
    }
    {
        _sqlite_add(
            "OLD.project_id",
            "predicted",
            "CAST(p.model_version_id AS TEXT) || ':' || json_extract(d.value, '$.label')",
            "-count(*)",
            "FROM predictions p, json_each(p.detections) AS d WHERE p.image_id = OLD.id GROUP BY 3",
        )
    }
    {
        _sqlite_add(
            "OLD.project_id",
            "annotated",
            "substr(a.created_at, 1, 10) || ' ' || a.label",
            "-count(*)",
            "FROM annotations a WHERE a.image_id = OLD.id GROUP BY 3",
        )
    }
    END""",
    f"""CREATE TRIGGER project_counts_predictions_insert AFTER INSERT ON predictions
    BEGIN {_sqlite_prediction(_project_of("NEW"), "NEW", "1")} END""",
    f"""CREATE TRIGGER project_counts_predictions_update AFTER UPDATE OF image_id,
    model_version_id, detections, num_detections ON predictions
    BEGIN {_sqlite_prediction(_project_of("OLD"), "OLD", "-1")}
    {_sqlite_prediction(_project_of("NEW"), "NEW", "1")} END""",
    f"""CREATE TRIGGER project_counts_predictions_delete AFTER DELETE ON predictions
    BEGIN {_sqlite_prediction(_project_of("OLD"), "OLD", "-1")} END""",
    f"""CREATE TRIGGER project_counts_annotations_insert AFTER INSERT ON annotations
    BEGIN {_sqlite_annotation(_project_of("NEW"), "NEW", "1")} END""",
    f"""CREATE TRIGGER project_counts_annotations_update AFTER UPDATE OF image_id, label,
    created_at ON annotations
    BEGIN {_sqlite_annotation(_project_of("OLD"), "OLD", "-1")}
    {_sqlite_annotation(_project_of("NEW"), "NEW", "1")} END""",
    f"""CREATE TRIGGER project_counts_annotations_delete AFTER DELETE ON annotations
    BEGIN {_sqlite_annotation(_project_of("OLD"), "OLD", "-1")} END""",
]
_SQLITE_DROP = [
    f"DROP TRIGGER project_counts_{table}_{event}"
    for table in ("images", "predictions", "annotations")
    for event in ("insert", "update", "delete")
]


def upgrade() -> None:
    op.create_table(
        "project_counts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_counts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "name", "key", "slot", name=op.f("pk_project_counts")
        ),
    )
    dialect = op.get_bind().dialect.name
    rebuild_project_counts(op.get_bind())  # counts of the rows already there
    for statement in _PG if dialect == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _PG_DROP if op.get_bind().dialect.name == "postgresql" else _SQLITE_DROP:
        op.execute(statement)
    op.drop_table("project_counts")
