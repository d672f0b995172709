"""Images: storing a received file, where its bytes are, keyset lists, reading, deleting, comments."""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from labelbay.config import Settings
from labelbay.db.models import Annotation, Comment, Image, Prediction, Role, User
from labelbay.db.session import transaction
from labelbay.errors import Invalid, NotFound
from labelbay.services.filters import evaluation_conditions, metadata_conditions
from labelbay.services.projects import hidden_as, require_project
from labelbay.storage import Locations, ObjectStore
from labelbay.storage.keys import new_image_key
from labelbay.storage.urls import open_cached, split_url
from labelbay.uploads.filenames import BadFilename, clean_filename
from labelbay.uploads.multipart import FilePart
from labelbay.uploads.validate import RejectedFile, inspect_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_pixels: int
    max_filename_length: int


@dataclass(frozen=True)
class Rejection:
    filename: str
    reason: str


@dataclass(frozen=True)
class ImportedFrom:
    """Where an imported file came from; `external`: keep only the reference, store no copy."""

    url: str
    etag: str | None
    external: bool = False


def store_upload(
    *,
    sessions: sessionmaker[Session],
    store: ObjectStore,
    part: FilePart,
    project_id: int,
    uploader_id: int | None,
    limits: UploadLimits,
    meta: Mapping[str, Any] | None = None,
    origin: ImportedFrom | None = None,
) -> Image | Rejection:
    """Validate one received file and keep it (object first, then its row), or say why not.

    Each file commits on its own, so a long batch never holds a write lock and an interrupted
    request keeps exactly the files it finished. If the row cannot be written the object is removed
    again, so a failure leaves no orphan.
    """
    try:
        try:
            filename = clean_filename(part.filename, max_length=limits.max_filename_length)
        except BadFilename as exc:
            return Rejection(part.filename[:300], str(exc))
        if part.too_large:
            return Rejection(filename, f"file is larger than the limit of {limits.max_bytes} bytes")
        assert part.path is not None
        try:
            facts = inspect_image(
                part.path, size=part.size, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels
            )
        except RejectedFile as exc:
            return Rejection(filename, str(exc))
        key = new_image_key(facts.extension)
        external = origin is not None and origin.external
        if not external:
            store.put(key, part.path, content_type=facts.mime_type)
        try:
            with transaction(sessions) as session:
                image = Image(
                    project_id=project_id,
                    original_filename=filename,
                    storage_key=key,
                    mime_type=facts.mime_type,
                    size_bytes=part.size,
                    width=facts.width,
                    height=facts.height,
                    sha256=part.sha256,
                    meta=dict(meta or {}),
                    uploaded_by_id=uploader_id,
                    source_url=origin.url if origin else None,
                    source_etag=origin.etag if origin else None,
                    external=external,
                )
                session.add(image)
        except BaseException:
            if not external:
                store.delete(key)
            raise
        return image
    finally:
        part.discard()


def image_location(
    image: Image, *, storage: Locations, settings: Settings
) -> tuple[ObjectStore, str]:
    """(store, key) of an image's bytes: the input location, or, for an image imported by
    reference, the bucket or folder it was imported from. Every reader of the bytes asks here."""
    if image.external and image.source_url:
        root, key = split_url(image.source_url)
        return source_store(root, settings), key
    return storage.input, image.storage_key


def source_store(root: str, settings: Settings) -> ObjectStore:
    """The bucket or folder at a source URL, opened with the platform's S3 credentials."""
    key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return open_cached(
        root,
        s3_access_key_id=key_id.get_secret_value() if key_id else None,
        s3_secret_access_key=secret.get_secret_value() if secret else None,
        s3_region=settings.s3_region,
    )


Order = Literal["asc", "desc"]


def encode_cursor(image_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(image_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise Invalid("cursor is not valid") from exc


def list_images(
    session: Session,
    *,
    project_id: int,
    limit: int,
    cursor: str | None = None,
    order: Order = "asc",
    selection: ImageFilter | None = None,
) -> tuple[list[Image], str | None]:
    """One page of a project's images in upload order, and the cursor of the next page (or None).

    Keyset pagination on the time-ordered id: every page costs the same however deep it is.
    """
    stmt = select(Image).where(*image_conditions(session, project_id, selection))
    if cursor is not None:
        after = decode_cursor(cursor)
        stmt = stmt.where(Image.id > after if order == "asc" else Image.id < after)
    stmt = stmt.order_by(Image.id.asc() if order == "asc" else Image.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def count_images(session: Session, *, project_id: int, selection: ImageFilter | None = None) -> int:
    conditions = image_conditions(session, project_id, selection)
    return session.scalar(select(func.count(Image.id)).where(*conditions)) or 0


@dataclass(frozen=True)
class ImageFilter:
    """What a list of images can be narrowed by; every field is optional."""

    filename: str | None = None
    meta: Mapping[str, str] | None = None
    review_status: str | None = None
    has_predictions: bool | None = None
    label: str | None = None
    model_version_id: int | None = None  # has a prediction from this model version
    # by an evaluation's outcome (see `filters.evaluation_conditions`)
    evaluation: int | None = None
    outcome: Literal["tp", "fp", "fn"] | None = None
    eval_class: str | None = None
    gt_class: str | None = None
    pred_class: str | None = None


def image_conditions(
    session: Session, project_id: int, selection: ImageFilter | None
) -> list[ColumnElement[bool]]:
    """WHERE conditions for a project's images narrowed by `selection`."""
    conditions: list[ColumnElement[bool]] = [Image.project_id == project_id]
    if selection is None:
        return conditions
    if selection.review_status:
        conditions.append(Image.review_status == selection.review_status)
    if selection.has_predictions is not None:
        has = exists().where(Prediction.image_id == Image.id)
        conditions.append(has if selection.has_predictions else ~has)
    if selection.model_version_id is not None:
        conditions.append(
            exists().where(
                Prediction.image_id == Image.id,
                Prediction.model_version_id == selection.model_version_id,
            )
        )
    if selection.label:
        conditions.append(
            exists().where(Annotation.image_id == Image.id, Annotation.label == selection.label)
        )
    if selection.filename:
        name = selection.filename
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Image.original_filename.ilike(f"%{escaped}%", escape="\\"))
    if selection.meta:
        dialect = session.get_bind().dialect.name
        conditions.extend(metadata_conditions(Image.meta, selection.meta, dialect=dialect))
    conditions.extend(
        evaluation_conditions(
            session,
            project_id,
            evaluation_id=selection.evaluation,
            outcome=selection.outcome,
            eval_class=selection.eval_class,
            gt_class=selection.gt_class,
            pred_class=selection.pred_class,
        )
    )
    return conditions


def get_image(session: Session, *, user: User, image_id: uuid.UUID, min_role: Role) -> Image:
    """The image if the user's role in its project is at least `min_role` (else NotFound/Forbidden)."""
    with hidden_as(f"image {image_id}"):
        image = session.get(Image, image_id)
        if image is None:
            raise NotFound(f"image {image_id} not found")
        require_project(session, user=user, project_id=image.project_id, min_role=min_role)
    return image


def update_image_meta(session: Session, *, image: Image, meta: Mapping[str, Any]) -> Image:
    image.meta = dict(meta)
    session.flush()
    return image


def delete_image(session: Session, *, image: Image) -> str:
    """Delete the row; returns the storage key for the caller to delete after the commit."""
    key = image.storage_key
    session.delete(image)
    session.flush()
    return key


def add_comment(session: Session, *, image: Image, author: User, text: str) -> Comment:
    text = text.strip()
    if not text:
        raise Invalid("a comment needs text")
    comment = Comment(image_id=image.id, author_id=author.id, text=text)
    session.add(comment)
    session.flush()
    return comment


def list_comments(session: Session, *, image_id: uuid.UUID) -> list[Comment]:
    stmt = select(Comment).where(Comment.image_id == image_id).order_by(Comment.id)
    return list(session.scalars(stmt))


def delete_objects_quietly(store: ObjectStore, keys: list[str]) -> None:
    """Delete objects whose rows are gone; a failure is logged, the rows' deletion stands."""
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            log.exception("could not delete object %s; it is now unreferenced", key)
