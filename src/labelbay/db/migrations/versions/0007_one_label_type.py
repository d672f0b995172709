"""one label type

Predictions store one label (the JSON form of `labelbay.labels.Label`) per detection instead of
the worker result format; annotations gain the label fields they lacked (text, top-k, attributes);
analysis annotations keep the posted data and gain its label.

The conversions are written out here, not imported, so this revision keeps meaning what it meant
when later code changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 1000

predictions = sa.table(
    "predictions",
    sa.column("id", sa.Integer),
    sa.column("image_id", sa.Uuid),
    sa.column("model_version_id", sa.Integer),
    sa.column("detections", JSON),
)
images = sa.table(
    "images",
    sa.column("id", sa.Uuid),
    sa.column("width", sa.Integer),
    sa.column("height", sa.Integer),
)
model_versions = sa.table(
    "model_versions", sa.column("id", sa.Integer), sa.column("task", sa.String)
)
analysis_annotations = sa.table(
    "ml_analysis_annotations",
    sa.column("id", sa.Integer),
    sa.column("annotation_type", sa.String),
    sa.column("class_name", sa.String),
    sa.column("confidence", sa.Float),
    sa.column("data", JSON),
    sa.column("label", JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("top_k", JSON, nullable=True))
        batch_op.add_column(sa.Column("attributes", JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("ml_analysis_annotations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", JSON, nullable=True))

    conn = op.get_bind()
    for rows in _pages(
        conn,
        sa.select(
            predictions.c.id,
            predictions.c.model_version_id,
            predictions.c.detections,
            images.c.width,
            images.c.height,
            model_versions.c.task,
        )
        .join(images, images.c.id == predictions.c.image_id)
        .join(model_versions, model_versions.c.id == predictions.c.model_version_id),
        predictions.c.id,
    ):
        for row in rows:
            if any("kind" in detection for detection in row.detections):
                continue  # already converted
            classify = row.task == "classify"
            labels = [
                label
                for detection in row.detections
                if (label := _prediction_label(detection, row, classify=classify))
            ]
            conn.execute(
                sa.update(predictions).where(predictions.c.id == row.id).values(detections=labels)
            )
    for rows in _pages(
        conn,
        sa.select(
            analysis_annotations.c.id,
            analysis_annotations.c.annotation_type,
            analysis_annotations.c.class_name,
            analysis_annotations.c.confidence,
            analysis_annotations.c.data,
        ),
        analysis_annotations.c.id,
    ):
        for row in rows:
            converted = _analysis_label(row)
            if converted is not None:
                conn.execute(
                    sa.update(analysis_annotations)
                    .where(analysis_annotations.c.id == row.id)
                    .values(label=converted)
                )


def downgrade() -> None:
    conn = op.get_bind()
    for rows in _pages(
        conn,
        sa.select(predictions.c.id, predictions.c.detections, images.c.width, images.c.height).join(
            images, images.c.id == predictions.c.image_id
        ),
        predictions.c.id,
    ):
        for row in rows:
            old = [_worker_row(label, row.width, row.height) for label in row.detections]
            conn.execute(
                sa.update(predictions).where(predictions.c.id == row.id).values(detections=old)
            )
    with op.batch_alter_table("ml_analysis_annotations", schema=None) as batch_op:
        batch_op.drop_column("label")
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_column("attributes")
        batch_op.drop_column("top_k")
        batch_op.drop_column("text")


def _pages(conn: sa.Connection, query: sa.Select[Any], key: Any) -> Iterator[list[Any]]:
    last = None
    while True:
        page = query.order_by(key).limit(BATCH)
        if last is not None:
            page = page.where(key > last)
        rows = list(conn.execute(page).all())
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _clip(value: float, top: float) -> float:
    return round(min(max(float(value), 0.0), float(top)), 2)


def _prediction_label(detection: dict[str, Any], row: Any, *, classify: bool) -> dict[str, Any]:
    """A detection of the worker result format as a label, fitted to its image; {} when nothing
    of it lies inside."""
    box = detection["bbox"]
    x1, x2 = _clip(box["x1"], row.width), _clip(box["x2"], row.width)
    y1, y2 = _clip(box["y1"], row.height), _clip(box["y2"], row.height)
    label: dict[str, Any] = {
        "kind": "box",
        "label": str(detection["class_name"]),
        "class_id": int(detection["class_id"]),
        "score": min(max(float(detection["confidence"]), 0.0), 1.0),
        "geometry": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
        "source": {"model_version_id": row.model_version_id},
    }
    circle = detection.get("circle")
    if classify:
        label["kind"], label["geometry"] = "classification", {}
    elif circle:
        label["kind"] = "circle"
        label["geometry"] = {k: float(circle[k]) for k in ("cx", "cy", "r")}
    elif "text" in detection:
        label["kind"], label["text"] = "text", str(detection["text"])
    if label["kind"] in ("box", "text") and (x2 <= x1 or y2 <= y1):
        return {}
    return label


def _analysis_label(row: Any) -> dict[str, Any] | None:
    data, name = row.data or {}, row.class_name
    if not name:
        return None
    label: dict[str, Any] = {"kind": "", "label": name}
    if row.confidence is not None:
        label["score"] = row.confidence
    kind = row.annotation_type
    try:
        if kind == "bounding_box":
            keys = ("x_min", "y_min", "x_max", "y_max")
            x1, y1, x2, y2 = (float(data[k]) for k in keys)
            label.update(kind="box", geometry={"x1": x1, "y1": y1, "x2": x2, "y2": y2})
        elif kind == "circle":
            circle = {"cx": float(data["x"]), "cy": float(data["y"]), "r": float(data["radius"])}
            label.update(kind="circle", geometry=circle)
        elif kind == "polygon":
            points = [
                [float(p["x"]), float(p["y"])]
                if isinstance(p, dict)
                else [float(p[0]), float(p[1])]
                for p in data["points"]
            ]
            label.update(kind="polygon", geometry={"points": points})
        elif kind == "classification":
            label.update(kind="classification", geometry={})
        else:
            return None
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return label


def _worker_row(label: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    geometry = label.get("geometry", {})
    if "cx" in geometry:
        cx, cy, r = geometry["cx"], geometry["cy"], geometry["r"]
        box = [cx - r, cy - r, cx + r, cy + r]
    elif "x1" in geometry:
        box = [geometry[k] for k in ("x1", "y1", "x2", "y2")]
    elif "points" in geometry:
        xs = [p[0] for p in geometry["points"]]
        ys = [p[1] for p in geometry["points"]]
        box = [min(xs), min(ys), max(xs), max(ys)]
    else:
        box = [0, 0, width, height]
    x1, x2 = _clip(box[0], width), _clip(box[2], width)
    y1, y2 = _clip(box[1], height), _clip(box[3], height)
    row: dict[str, Any] = {
        "class_id": label.get("class_id", -1),
        "class_name": label["label"],
        "confidence": label.get("score", 1.0),
        "bbox": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
    }
    if "cx" in geometry:
        row["circle"] = {k: geometry[k] for k in ("cx", "cy", "r")}
    if "text" in label:
        row["text"] = label["text"]
    return row
