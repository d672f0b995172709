"""Exporting an analysis with its annotations, as JSON or CSV.

Both give back each annotation's fields as the pipeline posted them. CSV repeats a bounding box's
corners in their own columns for spreadsheets; `data` always holds the full JSON object.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from labelbay.db.models import Analysis, AnalysisAnnotation

CSV_COLUMNS = (
    "analysis_id",
    "annotation_id",
    "annotation_type",
    "class_name",
    "confidence",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "storage_path",
    "data",
)
_BOX = ("x_min", "y_min", "x_max", "y_max")


def analysis_summary(analysis: Analysis) -> dict[str, Any]:
    return {
        "id": str(analysis.id),
        "image_id": str(analysis.image_id),
        "model_name": analysis.model_name,
        "model_version": analysis.model_version,
        "parameters": analysis.parameters,
        "status": analysis.status,
        "error": analysis.error,
        "created_at": analysis.created_at.isoformat(),
        "started_at": analysis.started_at.isoformat() if analysis.started_at else None,
        "finished_at": analysis.finished_at.isoformat() if analysis.finished_at else None,
    }


def annotation_record(annotation: AnalysisAnnotation) -> dict[str, Any]:
    return {
        "id": annotation.id,
        "annotation_type": annotation.annotation_type,
        "class_name": annotation.class_name,
        "confidence": annotation.confidence,
        "data": annotation.data,
        "storage_path": annotation.storage_path,
    }


def to_json(analysis: Analysis) -> str:
    document = {
        "analysis": analysis_summary(analysis),
        "annotations": [annotation_record(a) for a in analysis.annotations],
        "artifacts": [
            {
                "artifact_type": artifact.artifact_type,
                "filename": artifact.filename,
                "storage_path": artifact.storage_path,
                "content_type": artifact.content_type,
                "size_bytes": artifact.size_bytes,
            }
            for artifact in analysis.artifacts
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(analysis: Analysis) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for annotation in analysis.annotations:
        box = (
            [annotation.data.get(name) for name in _BOX]
            if annotation.annotation_type == "bounding_box"
            else [None] * len(_BOX)
        )
        writer.writerow(
            [
                analysis.id,
                annotation.id,
                annotation.annotation_type,
                _cell(annotation.class_name),
                # repr of a float is the shortest text that reads back as the same float.
                "" if annotation.confidence is None else repr(annotation.confidence),
                *(_cell(v) for v in box),
                _cell(annotation.storage_path),
                json.dumps(annotation.data, ensure_ascii=False, separators=(",", ":")),
            ]
        )
    return buffer.getvalue()
