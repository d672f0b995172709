"""A project's images with their labels, page by page, fed to one of the export writers.

Images are walked in keyset pages (the same filters and order as the image list), and each page's
predictions and annotations are read with one query each, so memory holds one page at a time however
large the project is. Writers write into a `Sink` that the caller drains after every page.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.db.models import Annotation, Label, ModelVersion, Prediction
from labelbay.services.images import ImageFilter, list_images

Source = Literal["predictions", "annotations", "both"]
PAGE_SIZE = 500


@dataclass(frozen=True)
class ExportObject:
    """One label on an image: geometry in pixels of the original image (whichever applies)."""

    label: str
    kind: str  # box, circle, polygon, classification
    origin: Literal["prediction", "annotation"]
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2
    circle: tuple[float, float, float] | None = None  # cx, cy, r
    points: tuple[tuple[float, float], ...] | None = None
    score: float | None = None
    text: str | None = None


@dataclass(frozen=True)
class ExportImage:
    id: uuid.UUID
    file_name: str  # relative, unique within the export
    original_filename: str
    width: int
    height: int
    objects: list[ExportObject] = field(default_factory=list)


class Writer(Protocol):
    def add(self, image: ExportImage) -> None: ...

    def close(self) -> None: ...


class Sink:
    """Collects what a writer writes (text or bytes) until the next `take()`; a file-like enough
    for `zipfile` to write a streamed archive into."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data: str | bytes) -> int:
        chunk = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def label_names(session: Session, *, project_id: int, model: ModelVersion | None) -> list[str]:
    """The project's label set in order; the model's classes when the set is empty."""
    names = list(
        session.scalars(select(Label.name).where(Label.project_id == project_id).order_by(Label.id))
    )
    return names or (list(model.class_names) if model is not None else [])


def iter_images(
    session: Session,
    *,
    project_id: int,
    source: Source,
    model_version_id: int | None,
    image_filter: ImageFilter | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[list[ExportImage]]:
    """Pages of the selected images with their objects, in upload order."""
    if source != "annotations" and model_version_id is None:
        raise ValueError("exporting predictions needs a model version")
    image_filter = image_filter or ImageFilter()
    names_seen: set[str] = set()
    cursor: str | None = None
    while True:
        rows, cursor = list_images(
            session,
            project_id=project_id,
            limit=page_size,
            cursor=cursor,
            selection=image_filter,
        )
        ids = [row.id for row in rows]
        predicted = (
            _predictions(session, ids, model_version_id)
            if source != "annotations" and model_version_id is not None
            else {}
        )
        annotated = _annotations(session, ids) if source != "predictions" else {}
        page = []
        for row in rows:
            file_name = row.original_filename
            if file_name in names_seen:
                file_name = f"{row.id}_{file_name}"
            names_seen.add(file_name)
            objects = predicted.get(row.id, []) + annotated.get(row.id, [])
            page.append(
                ExportImage(
                    row.id, file_name, row.original_filename, row.width, row.height, objects
                )
            )
        session.expunge_all()  # the page is copied out; let its ORM objects go
        yield page
        if cursor is None:
            return


def _predictions(
    session: Session, ids: Sequence[uuid.UUID], model_version_id: int
) -> dict[uuid.UUID, list[ExportObject]]:
    stmt = select(Prediction.image_id, Prediction.detections, Prediction.review).where(
        Prediction.image_id.in_(ids), Prediction.model_version_id == model_version_id
    )
    out: dict[uuid.UUID, list[ExportObject]] = {}
    for image_id, detections, review in session.execute(stmt):
        out[image_id] = [
            prediction_object(d)
            for i, d in enumerate(detections)
            if review.get(str(i)) != "rejected"  # a reviewer's "no" removes it from exports
        ]
    return out


def prediction_object(detection: Mapping[str, Any]) -> ExportObject:
    """One detection of the worker JSON format as an export object."""
    box = detection["bbox"]
    circle = detection.get("circle")
    return ExportObject(
        label=str(detection["class_name"]),
        kind="circle" if circle else "box",
        origin="prediction",
        box=(box["x1"], box["y1"], box["x2"], box["y2"]),
        circle=(circle["cx"], circle["cy"], circle["r"]) if circle else None,
        score=float(detection["confidence"]),
        text=detection.get("text"),
    )


def _annotations(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ExportObject]]:
    stmt = (
        select(Annotation.image_id, Annotation.kind, Annotation.label, Annotation.geometry)
        .where(Annotation.image_id.in_(ids))
        .order_by(Annotation.image_id, Annotation.id)
    )
    out: dict[uuid.UUID, list[ExportObject]] = defaultdict(list)
    for image_id, kind, label, geometry in session.execute(stmt):
        out[image_id].append(annotation_object(kind, label, geometry))
    return out


def annotation_object(kind: str, label: str, geometry: Mapping[str, Any]) -> ExportObject:
    """A person's annotation as an export object; circles and polygons also get their box."""
    if kind == "box":
        box = (geometry["x1"], geometry["y1"], geometry["x2"], geometry["y2"])
        return ExportObject(label, kind, "annotation", box=box)
    if kind == "circle":
        cx, cy, r = geometry["cx"], geometry["cy"], geometry["r"]
        return ExportObject(
            label, kind, "annotation", box=(cx - r, cy - r, cx + r, cy + r), circle=(cx, cy, r)
        )
    if kind == "polygon":
        points = tuple((float(x), float(y)) for x, y in geometry["points"])
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        box = (min(xs), min(ys), max(xs), max(ys))
        return ExportObject(label, kind, "annotation", box=box, points=points)
    return ExportObject(label, kind, "annotation")


def drain(writer: Writer, sink: Sink, pages: Iterator[list[ExportImage]]) -> Iterator[bytes]:
    """Feed every page to the writer, yielding what it wrote after each page and at the end."""
    for page in pages:
        for image in page:
            writer.add(image)
        chunk = sink.take()
        if chunk:
            yield chunk
    writer.close()
    yield sink.take()
