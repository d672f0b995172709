"""Rebuilding `project_counts` (see `models.ProjectCount`) from the rows as they are.

Triggers keep the counts on every write (migration 0017). Two writers go around them and rebuild
instead: the migration that created the table (counts of the rows already there), and bulk loads
that turn the triggers off for their session (`session_replication_role = replica` on
PostgreSQL, as the benchmarks seed millions of rows) and rebuild once at the end.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# The counts, by what they count, of the chosen projects' rows (all projects when :project_id
# is NULL), with the two places the dialects differ left open: how a prediction's labels are
# unnested (`{unnest}`, giving `{label}`) and how an annotation's UTC day is read (`{day}`).
_COUNTS = """
    WITH chosen AS (
        SELECT id FROM projects WHERE CAST(:project_id AS INTEGER) IS NULL OR id = :project_id
    )
    INSERT INTO project_counts (project_id, name, key, slot, n)
    SELECT project_id, 'images', review_status, 0, count(*) FROM images
    WHERE project_id IN (SELECT id FROM chosen) GROUP BY 1, 3
    UNION ALL
    SELECT project_id, 'reviewer', CAST(reviewed_by_id AS TEXT), 0, count(*) FROM images
    WHERE review_status = 'reviewed' AND reviewed_by_id IS NOT NULL
        AND project_id IN (SELECT id FROM chosen)
    GROUP BY 1, 3
    UNION ALL
    SELECT i.project_id, 'model_images', CAST(p.model_version_id AS TEXT), 0, count(*)
    FROM predictions p JOIN images i ON i.id = p.image_id
    WHERE i.project_id IN (SELECT id FROM chosen) GROUP BY 1, 3
    UNION ALL
    SELECT i.project_id, 'model_labels', CAST(p.model_version_id AS TEXT), 0,
        sum(p.num_detections)
    FROM predictions p JOIN images i ON i.id = p.image_id
    WHERE i.project_id IN (SELECT id FROM chosen) GROUP BY 1, 3
    UNION ALL
    SELECT i.project_id, 'predicted', CAST(p.model_version_id AS TEXT) || ':' || {label},
        0, count(*)
    FROM predictions p JOIN images i ON i.id = p.image_id {unnest}
    WHERE i.project_id IN (SELECT id FROM chosen) GROUP BY 1, 3
    UNION ALL
    SELECT i.project_id, 'annotated', {day} || ' ' || a.label, 0, count(*)
    FROM annotations a JOIN images i ON i.id = a.image_id
    WHERE i.project_id IN (SELECT id FROM chosen) GROUP BY 1, 3
"""
_BACKFILL = {
    "postgresql": _COUNTS.format(
        unnest="CROSS JOIN LATERAL jsonb_array_elements(p.detections) AS d",
        label="(d->>'label')",
        day="to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    ),
    "sqlite": _COUNTS.format(
        unnest=", json_each(p.detections) AS d",
        label="json_extract(d.value, '$.label')",
        day="substr(a.created_at, 1, 10)",
    ),
}


def rebuild_project_counts(connection: Connection, *, project_id: int | None = None) -> None:
    """Replace the counts of project `project_id` (of every project when None) with counts of
    its rows, in the caller's transaction."""
    values = {"project_id": project_id}
    connection.execute(
        text(
            "DELETE FROM project_counts "
            "WHERE CAST(:project_id AS INTEGER) IS NULL OR project_id = :project_id"
        ),
        values,
    )
    connection.execute(text(_BACKFILL[connection.dialect.name]), values)
