"""Flat exports: CSV (one row per label, one blank-label row for an image with none) and JSON (an
array of images, each with its labels). Both are written image by image."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from labelbay.exports.project import ExportImage, ExportObject, Sink

CSV_COLUMNS = (
    "image_id",
    "file_name",
    "width",
    "height",
    "source",
    "kind",
    "label",
    "score",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "text",
)


class CsvWriter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)

    def add(self, image: ExportImage) -> None:
        head = [str(image.id), image.file_name, image.width, image.height]
        if not image.objects:
            self._csv.writerow(head + [""] * (len(CSV_COLUMNS) - len(head)))
        for obj in image.objects:
            box = obj.box or ("", "", "", "")
            circle = obj.circle or ("", "", "")
            score = "" if obj.score is None else obj.score
            self._csv.writerow(
                [*head, obj.origin, obj.kind, obj.label, score, *box, *circle, obj.text or ""]
            )
        self._flush()

    def close(self) -> None:
        self._flush()

    def _flush(self) -> None:
        self._sink.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()


def object_json(obj: ExportObject) -> dict[str, Any]:
    out: dict[str, Any] = {"source": obj.origin, "kind": obj.kind, "label": obj.label}
    if obj.score is not None:
        out["score"] = obj.score
    if obj.box is not None:
        out["bbox"] = dict(zip(("x1", "y1", "x2", "y2"), obj.box, strict=True))
    if obj.circle is not None:
        out["circle"] = dict(zip(("cx", "cy", "r"), obj.circle, strict=True))
    if obj.points is not None:
        out["points"] = [list(point) for point in obj.points]
    if obj.text is not None:
        out["text"] = obj.text
    return out


class JsonWriter:
    """`[{"image_id", "file_name", "width", "height", "objects": [...]}, ...]`."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._count = 0
        sink.write("[")

    def add(self, image: ExportImage) -> None:
        record = {
            "image_id": str(image.id),
            "file_name": image.file_name,
            "original_filename": image.original_filename,
            "width": image.width,
            "height": image.height,
            "objects": [object_json(obj) for obj in image.objects],
        }
        self._sink.write(("\n" if self._count == 0 else ",\n") + json.dumps(record))
        self._count += 1

    def close(self) -> None:
        self._sink.write("\n]\n")
