"""A project's images with their labels, page by page, for the export writers.

Images are walked in keyset pages (the same filters and order as the image list), and each page's
predictions and annotations are read with one query each, so memory holds one page at a time however
large the project is. Both kinds of row are read back as `labelbay.labels.Label`s.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.db.models import Annotation, Prediction
from labelbay.exports.base import ExportImage
from labelbay.labels import Label as ImageLabel
from labelbay.services.annotations import label_of
from labelbay.services.images import ImageFilter, list_images

Source = Literal["predictions", "annotations", "both"]
PAGE_SIZE = 500


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
    stems_seen: set[str] = set()
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
            # Unique by stem, case aside: YOLO pairs `images/x.jpg` with `labels/x.txt`, so
            # `coins.png` and `coins.jpg` (or `Coins.jpg` on a case-blind disk) would collide.
            file_name = row.original_filename
            stem = PurePosixPath(file_name).stem.casefold()
            if stem in stems_seen:
                file_name = f"{row.id}_{file_name}"
                stem = PurePosixPath(file_name).stem.casefold()
            stems_seen.add(stem)
            page.append(
                ExportImage(
                    row.id,
                    file_name,
                    row.original_filename,
                    row.width,
                    row.height,
                    predicted=predicted.get(row.id, []),
                    annotated=annotated.get(row.id, []),
                )
            )
        session.expunge_all()  # the page is copied out; let its ORM objects go
        yield page
        if cursor is None:
            return


def _predictions(
    session: Session, ids: Sequence[uuid.UUID], model_version_id: int
) -> dict[uuid.UUID, list[ImageLabel]]:
    stmt = select(Prediction.image_id, Prediction.detections, Prediction.review).where(
        Prediction.image_id.in_(ids), Prediction.model_version_id == model_version_id
    )
    out: dict[uuid.UUID, list[ImageLabel]] = {}
    for image_id, detections, review in session.execute(stmt):
        out[image_id] = [
            ImageLabel.model_validate(d)
            for i, d in enumerate(detections)
            if review.get(str(i)) != "rejected"  # a reviewer's "no" removes it from exports
        ]
    return out


def _annotations(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ImageLabel]]:
    columns = ("kind", "label", "geometry", "confidence", "text", "top_k", "attributes")
    more = ("source", "model_version_id", "created_by_id")
    stmt = (
        select(Annotation.image_id, *(getattr(Annotation, c) for c in columns + more))
        .where(Annotation.image_id.in_(ids))
        .order_by(Annotation.image_id, Annotation.id)
    )
    out: dict[uuid.UUID, list[ImageLabel]] = defaultdict(list)
    for row in session.execute(stmt):
        out[row.image_id].append(label_of(row))
    return out
