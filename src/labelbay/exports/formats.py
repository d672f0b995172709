"""Which writer writes each export format, and a whole project export as a stream of bytes.

`project` walks the images and holds the types the writers share; this module imports the writers,
so nothing below it imports back up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from labelbay.db.models import ModelVersion
from labelbay.exports.coco import CocoWriter
from labelbay.exports.csv_json import CsvWriter, JsonWriter
from labelbay.exports.labelstudio import LabelStudioWriter
from labelbay.exports.project import ExportImage, Sink, Source, Writer, drain, iter_images
from labelbay.exports.yolo import YoloWriter
from labelbay.services.images import ImageFilter

Format = Literal["coco", "yolo", "csv", "json", "labelstudio"]
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "coco": ("application/json", "json"),
    "yolo": ("application/zip", "zip"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "labelstudio": ("application/json", "json"),
}


def open_writer(
    format: Format,
    sink: Sink,
    *,
    categories: Sequence[str],
    model_version: str = "",
    image_url: Callable[[ExportImage], str] | None = None,
) -> Writer:
    """The writer for a format, writing into `sink`."""
    if format == "coco":
        return CocoWriter(sink, categories=categories)
    if format == "yolo":
        return YoloWriter(sink, categories=categories)
    if format == "csv":
        return CsvWriter(sink)
    if format == "json":
        return JsonWriter(sink)
    return LabelStudioWriter(
        sink, image_url=image_url or (lambda image: image.file_name), model_version=model_version
    )


def stream_export(
    sessions: sessionmaker[Session],
    *,
    project_id: int,
    format: Format,
    source: Source,
    model: ModelVersion | None,
    categories: Sequence[str],
    image_filter: ImageFilter | None = None,
    image_url: Callable[[ExportImage], str] | None = None,
) -> Iterator[bytes]:
    """The whole export as byte chunks, one per page of images, from a session of its own."""
    sink = Sink()
    writer = open_writer(
        format,
        sink,
        categories=categories,
        model_version=f"{model.name}:{model.version}" if model else "",
        image_url=image_url,
    )
    with sessions() as session:
        pages = iter_images(
            session,
            project_id=project_id,
            source=source,
            model_version_id=model.id if model else None,
            image_filter=image_filter,
        )
        yield from drain(writer, sink, pages)
