"""Flat exports: CSV (one row per label, one blank-label row for an image with none) and JSON (an
array of images, each with its labels). Both are written image by image."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from labelbay.exports.base import ExportImage, Origin, Sink
from labelbay.labels import CircleGeometry, Label, MaskGeometry

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
    "top_k",
)


class CsvWriter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)

    def add(self, image: ExportImage) -> None:
        head = [
            "" if image.id is None else str(image.id),
            image.file_name,
            image.width,
            image.height,
        ]
        if not image.predicted and not image.annotated:
            self._csv.writerow(head + [""] * (len(CSV_COLUMNS) - len(head)))
        for origin, label in image.labels():
            box: tuple[float | str, ...] = label.box_in(image.width, image.height) or ("",) * 4
            g = label.geometry
            circle = (g.cx, g.cy, g.r) if isinstance(g, CircleGeometry) else ("", "", "")
            score = label.score if origin == "prediction" and label.score is not None else ""
            top_k = "" if label.top_k is None else json.dumps(_top_k(label))
            what = [origin, label.kind, label.label, score]
            self._csv.writerow([*head, *what, *box, *circle, label.text or "", top_k])
        self._flush()

    def close(self) -> None:
        self._flush()

    def _flush(self) -> None:
        self._sink.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()


def label_json(origin: Origin, label: Label, width: int, height: int) -> dict[str, Any]:
    """One label of the JSON export: its kind, class, box (clipped, as in every format) and
    its own geometry."""
    out: dict[str, Any] = {"source": origin, "kind": label.kind, "label": label.label}
    if origin == "prediction" and label.score is not None:
        out["score"] = label.score
    box = label.box_in(width, height)
    if box is not None:
        out["bbox"] = dict(zip(("x1", "y1", "x2", "y2"), box, strict=True))
    g = label.geometry
    if isinstance(g, CircleGeometry):
        out["circle"] = {"cx": g.cx, "cy": g.cy, "r": g.r}
    if label.points is not None:
        out["points"] = [list(point) for point in label.points]
    if isinstance(g, MaskGeometry):
        out["mask"] = g.model_dump()  # COCO RLE, as stored
    if label.text is not None:
        out["text"] = label.text
    if label.top_k is not None:
        out["top_k"] = _top_k(label)
    if label.attributes:
        out["attributes"] = label.attributes
    return out


def _top_k(label: Label) -> list[dict[str, Any]]:
    return [c.model_dump() for c in label.top_k or []]


class JsonWriter:
    """`[{"image_id", "file_name", "width", "height", "objects": [...]}, ...]`."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._count = 0
        sink.write("[")

    def add(self, image: ExportImage) -> None:
        record = {
            "image_id": None if image.id is None else str(image.id),
            "file_name": image.file_name,
            "original_filename": image.original_filename,
            "width": image.width,
            "height": image.height,
            "objects": [
                label_json(origin, label, image.width, image.height)
                for origin, label in image.labels()
            ],
        }
        self._sink.write(("\n" if self._count == 0 else ",\n") + json.dumps(record))
        self._count += 1

    def close(self) -> None:
        self._sink.write("\n]\n")
