"""The export formats: one table from format name to writer, and the streamed project export."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from labelbay.db.models import ModelVersion
from labelbay.exports.base import ExportImage, ImageBytes, Sink, Writer
from labelbay.exports.coco import CocoWriter, CocoZipWriter
from labelbay.exports.csv_json import CsvWriter, JsonWriter
from labelbay.exports.cvat import CvatWriter
from labelbay.exports.labelstudio import LabelStudioWriter
from labelbay.exports.masks import MaskWriter
from labelbay.exports.project import Source, iter_images
from labelbay.exports.voc import VocWriter
from labelbay.exports.yolo import YoloWriter
from labelbay.services.images import ImageFilter

Format = Literal["coco", "yolo", "yolo-seg", "csv", "json", "labelstudio", "voc", "cvat", "masks"]
MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "coco": ("application/json", "json"),
    "yolo": ("application/zip", "zip"),
    "yolo-seg": ("application/zip", "zip"),
    "masks": ("application/zip", "zip"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "labelstudio": ("application/json", "json"),
    "voc": ("application/zip", "zip"),
    "cvat": ("application/xml", "xml"),
}
# The formats whose download can carry the images (`include_images`).
WITH_IMAGES = frozenset({"coco", "yolo", "yolo-seg", "voc", "cvat"})
ZIP = ("application/zip", "zip")


def zipped_coco(source: Source, include_images: bool) -> bool:
    """COCO comes as a zip when it carries images or separates predictions (`source=both`)."""
    return include_images or source == "both"


def media_type(format: Format, source: Source, include_images: bool = False) -> tuple[str, str]:
    """(media type, file extension) of an export."""
    if format == "coco" and zipped_coco(source, include_images):
        return ZIP
    if format == "cvat" and include_images:
        return ZIP
    return MEDIA_TYPES[format]


def open_writer(
    format: Format,
    sink: Sink,
    *,
    categories: Sequence[str],
    source: Source = "predictions",
    model_version: str = "",
    image_url: Callable[[ExportImage], str] | None = None,
    image_bytes: ImageBytes | None = None,
) -> Writer:
    """The writer for a format, writing into `sink` (the CLI's `labelbay label` uses it too);
    with `image_bytes`, COCO, YOLO, VOC and CVAT downloads carry the images too."""
    if format == "coco" and zipped_coco(source, image_bytes is not None):
        split = source == "both"
        return CocoZipWriter(sink, categories=categories, split=split, image_bytes=image_bytes)
    if format == "coco":
        return CocoWriter(sink, categories=categories)
    if format in ("yolo", "yolo-seg"):
        segments = format == "yolo-seg"
        return YoloWriter(sink, categories=categories, image_bytes=image_bytes, segments=segments)
    if format == "masks":
        return MaskWriter(sink, categories=categories)
    if format == "voc":
        return VocWriter(sink, categories=categories, image_bytes=image_bytes)
    if format == "cvat":
        return CvatWriter(sink, categories=categories, image_bytes=image_bytes)
    if format == "csv":
        return CsvWriter(sink)
    if format == "json":
        return JsonWriter(sink)
    return LabelStudioWriter(
        sink, image_url=image_url or (lambda image: image.file_name), model_version=model_version
    )


FLUSH_BYTES = 1 << 20


def drain(writer: Writer, sink: Sink, pages: Iterator[list[ExportImage]]) -> Iterator[bytes]:
    """Feed every page to the writer, yielding what it wrote after each page, and within a page
    whenever a megabyte has piled up (an export with images), and at the end."""
    for page in pages:
        for image in page:
            writer.add(image)
            if sink.pending >= FLUSH_BYTES:
                yield sink.take()
        chunk = sink.take()
        if chunk:
            yield chunk
    writer.close()
    yield sink.take()


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
    image_bytes: ImageBytes | None = None,
) -> Iterator[bytes]:
    """The whole export as byte chunks, one per page of images, from a session of its own."""
    sink = Sink()
    writer = open_writer(
        format,
        sink,
        categories=categories,
        source=source,
        model_version=f"{model.name}:{model.version}" if model else "",
        image_url=image_url,
        image_bytes=image_bytes,
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
