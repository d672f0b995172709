"""Migration 0007 converts rows written by the previous schema into the one label type, on
SQLite and PostgreSQL, and its downgrade gives the old rows back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Float, Integer, Uuid, column, table
from sqlalchemy.orm import Session

from labelbay import labels
from labelbay.db.base import JSONType, UTCDateTime
from labelbay.db.migrate import alembic_config, upgrade
from labelbay.db.models import (
    Analysis,
    AnalysisAnnotation,
    ModelVersion,
)
from labelbay.db.session import make_engine
from tests.support.migration_rows import execute, project_images

OLD_BOX = {
    "class_id": 2,
    "class_name": "face",
    "confidence": 0.91,
    "bbox": {"x1": -3.0, "y1": 10.0, "x2": 40.5, "y2": 60.0},
}
OLD_CIRCLE = {
    "class_id": 0,
    "class_name": "circle",
    "confidence": 0.8,
    "bbox": {"x1": 141.4, "y1": 463.96, "x2": 197.8, "y2": 520.36},
    "circle": {"cx": 169.6, "cy": 492.16, "r": 28.2},
}
OLD_TEXT = {
    "class_id": 0,
    "class_name": "text",
    "confidence": 0.97,
    "bbox": {"x1": 5.0, "y1": 6.0, "x2": 300.0, "y2": 30.0},
    "text": "Hello",
}
OLD_OUTSIDE = {
    "class_id": 0,
    "class_name": "face",
    "confidence": 0.5,
    "bbox": {"x1": 600.0, "y1": 10.0, "x2": 700.0, "y2": 60.0},
}
OLD_CLASS = {
    "class_id": 1,
    "class_name": "cat",
    "confidence": 0.7,
    "bbox": {"x1": 0.0, "y1": 0.0, "x2": 512.0, "y2": 512.0},
}

ANALYSIS_ROWS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("bounding_box", "cell", {"x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40, "track": 7}),
    ("polygon", "cell", {"points": [{"x": 1, "y": 1}, [9, 1], [9, 9, 2]]}),
    ("circle", "nucleus", {"x": 50, "y": 60, "radius": 5}),
    ("classification", "healthy", {}),
    ("heatmap", None, {"width": 4, "height": 4}),
    ("bounding_box", None, {"x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}),
]
OLD_PREDICTION_COLUMNS: dict[str, Any] = {
    "image_id": Uuid(),
    "model_version_id": Integer(),
    "detections": JSONType,
    "num_detections": Integer(),
    "review": JSONType,
    "processing_time_ms": Float(),
    "created_at": UTCDateTime(),
    "updated_at": UTCDateTime(),
}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _old_schema_rows(url: str) -> None:
    """What revision 0006 wrote: a 512x512 image with a detector's and a classifier's
    predictions in the worker result format. The parent rows are made with today's models at
    head, then the schema is taken down to 0006 and the predictions written as 0006 did."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            _, (image,) = project_images(session, ["unreviewed"], size=512)
            versions = [
                ModelVersion(name=name, version="1", task=task, format="builtin")
                for name, task in (("det", "detect"), ("cls", "classify"))
            ]
            session.add_all(versions)
            session.flush()
            analysis = Analysis(image_id=image.id, model_name="seg", model_version="1")
            analysis.annotations = [
                AnalysisAnnotation(annotation_type=kind, class_name=name, data=data)
                for kind, name, data in ANALYSIS_ROWS
            ]
            session.add(analysis)
            session.flush()
            image_id, version_ids = image.id, [v.id for v in versions]
        command.downgrade(alembic_config(url), "0006")
        old = table(
            "predictions",
            *(column(name, type_) for name, type_ in OLD_PREDICTION_COLUMNS.items()),
        )
        with engine.begin() as conn:
            for version_id, rows in zip(
                version_ids,
                ([OLD_BOX, OLD_CIRCLE, OLD_TEXT, OLD_OUTSIDE], [OLD_CLASS]),
                strict=True,
            ):
                conn.execute(
                    old.insert().values(
                        image_id=image_id,
                        model_version_id=version_id,
                        detections=rows,
                        num_detections=len(rows),
                        review={},
                        processing_time_ms=1.0,
                        created_at=datetime.now(UTC),
                        updated_at=datetime.now(UTC),
                    )
                )
    finally:
        engine.dispose()


def test_0007_converts_old_predictions_to_labels_and_back(database_url: str) -> None:
    config = alembic_config(database_url)
    _old_schema_rows(database_url)

    command.upgrade(config, "0007")

    ((detected,), (classified,)) = execute(
        database_url, "SELECT detections FROM predictions ORDER BY id"
    )
    converted = [labels.parse(item) for item in _json(detected)]
    # The box hanging over the left edge is clipped; the one wholly outside the image is gone.
    assert [(x.kind, x.label, x.score) for x in converted] == [
        ("box", "face", 0.91),
        ("circle", "circle", 0.8),
        ("text", "text", 0.97),
    ]
    assert converted[0].box == (0.0, 10.0, 40.5, 60.0)
    assert converted[1].box_in(512, 512) == pytest.approx((141.4, 463.96, 197.8, 512.0))
    assert converted[2].text == "Hello"
    assert all(x.source == labels.Source(model_version_id=1) for x in converted)
    (cls,) = [labels.parse(item) for item in _json(classified)]
    assert (cls.kind, cls.label, cls.box) == ("classification", "cat", None)

    command.downgrade(config, "0006")

    ((detected,), (classified,)) = execute(
        database_url, "SELECT detections FROM predictions ORDER BY id"
    )
    clipped_box = {**OLD_BOX, "bbox": {"x1": 0.0, "y1": 10.0, "x2": 40.5, "y2": 60.0}}
    clipped_circle = {**OLD_CIRCLE, "bbox": {**OLD_CIRCLE["bbox"], "y2": 512.0}}  # type: ignore[dict-item]
    assert _json(detected) == [clipped_box, clipped_circle, OLD_TEXT]
    assert _json(classified) == [OLD_CLASS]


def test_0007_gives_analysis_annotations_their_label(database_url: str) -> None:
    _old_schema_rows(database_url)

    command.upgrade(alembic_config(database_url), "0007")

    rows = execute(database_url, "SELECT label, data FROM ml_analysis_annotations ORDER BY id")
    converted = [None if row[0] is None else labels.parse(_json(row[0])) for row in rows]
    assert [(x.kind, x.label, x.to_json()["geometry"]) if x else None for x in converted] == [
        ("box", "cell", {"x1": 1, "y1": 2, "x2": 30, "y2": 40}),
        ("polygon", "cell", {"points": [[1, 1], [9, 1], [9, 9]]}),
        ("circle", "nucleus", {"cx": 50, "cy": 60, "r": 5}),
        ("classification", "healthy", {}),
        None,  # a heatmap is no label
        None,  # a box without a class names none
    ]
    assert _json(rows[0][1])["track"] == 7  # the posted data is kept as it was
