"""Importing a bucket prefix or a folder into a project, incrementally.

Each object is judged like an upload (`services.images.store_upload`): type by content, full decode,
limits. In copy mode its bytes go to the input location; in reference mode only its URL is kept and
the image is read from the source when needed.

A re-run handles only what is new or changed. Every imported image keeps its object's URL and ETag
(unique per project, so a key can never be added twice); a listed key whose ETag matches is skipped
without being read, a changed one is re-read and its image updated in place (its labels stay). For
S3 sources the (project, source) cursor also skips, without a database look-up, every object last
modified before the previous complete run began (less a margin for clock skew and uploads still in
flight). Local folders don't use that shortcut: copies keep old modification times.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labelbay.db.models import Image, ImportSource, Project
from labelbay.db.session import transaction
from labelbay.errors import Invalid, NotFound
from labelbay.imports.sources import IMAGE_SUFFIXES, open_source
from labelbay.imports.sources import ImportSource as Source
from labelbay.imports.spool import spool
from labelbay.runtime import Runtime
from labelbay.services.images import ImportedFrom, Rejection, UploadLimits, store_upload
from labelbay.storage import ObjectInfo
from labelbay.uploads.validate import RejectedFile, inspect_image

log = logging.getLogger(__name__)

MODES = ("reference", "copy")
CURSOR_MARGIN = timedelta(minutes=15)
LOOKUP_BATCH = 500


@dataclass
class ImportResult:
    source_id: int
    added: list[uuid.UUID] = field(default_factory=list)
    updated: list[uuid.UUID] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def run_import(
    deps: Runtime, *, project_id: int, url: str, mode: str, user_id: int | None
) -> ImportResult:
    """Import what is new or changed at `url` into the project (see the module docstring)."""
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}")
    source = open_source(url, deps.settings)
    started = datetime.now(UTC)
    with transaction(deps.sessions) as session:
        if session.get(Project, project_id) is None:
            raise NotFound(f"project {project_id} not found")
        row = session.scalar(
            select(ImportSource).where(
                ImportSource.project_id == project_id, ImportSource.url == source.url
            )
        )
        if row is None:
            row = ImportSource(project_id=project_id, url=source.url, mode=mode)
            session.add(row)
            session.flush()
        elif row.mode != mode:
            raise Invalid(f"this source was imported in {row.mode} mode; import it the same way")
        source_id, cursor = row.id, row.cursor_last_modified if source.kind == "s3" else None
    result = ImportResult(source_id=source_id)
    listed = (
        info
        for info in source.store.list(source.prefix)
        if info.key.lower().endswith(IMAGE_SUFFIXES)
        and not (cursor and info.last_modified and info.last_modified < cursor)
    )
    for batch in _chunks(listed, LOOKUP_BATCH):
        _import_batch(deps, source, batch, project_id, user_id, mode, result)
    with transaction(deps.sessions) as session:
        row = session.get_one(ImportSource, source_id)
        row.runs += 1
        row.imported += len(result.added)
        row.last_run_at = datetime.now(UTC)
        # Only a complete run moves the cursor, and never past its own start (less the margin).
        row.cursor_last_modified = started - CURSOR_MARGIN
    return result


def _chunks(items: Iterator[ObjectInfo], size: int) -> Iterator[list[ObjectInfo]]:
    while batch := list(islice(items, size)):
        yield batch


def _import_batch(
    deps: Runtime,
    source: Source,
    batch: list[ObjectInfo],
    project_id: int,
    user_id: int | None,
    mode: str,
    result: ImportResult,
) -> None:
    urls = {source.object_url(info.key): info for info in batch}
    with deps.sessions() as session:
        known = {
            url: (image_id, etag)
            for url, image_id, etag in session.execute(
                select(Image.source_url, Image.id, Image.source_etag).where(
                    Image.project_id == project_id, Image.source_url.in_(list(urls))
                )
            )
        }
    for url, info in urls.items():
        if url in known:
            image_id, etag = known[url]
            if etag is not None and etag == info.etag:
                result.unchanged += 1
            else:
                _update(deps, source, info, image_id, url, result)
            continue
        _add(deps, source, info, url, project_id, user_id, mode, result)


def _limits(deps: Runtime) -> UploadLimits:
    settings = deps.settings
    return UploadLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_filename_length=settings.max_filename_length,
    )


def _add(
    deps: Runtime,
    source: Source,
    info: ObjectInfo,
    url: str,
    project_id: int,
    user_id: int | None,
    mode: str,
    result: ImportResult,
) -> None:
    name = PurePosixPath(info.key).name
    part = spool(
        source.store.iter_chunks(info.key), filename=name, max_bytes=deps.settings.max_upload_bytes
    )
    try:
        outcome = store_upload(
            sessions=deps.sessions,
            store=deps.storage.input,
            part=part,
            project_id=project_id,
            uploader_id=user_id,
            limits=_limits(deps),
            meta={"source_key": info.key},
            origin=ImportedFrom(url=url, etag=info.etag, external=mode == "reference"),
        )
    except IntegrityError:
        # Another import of the same source added it first: the unique index keeps one.
        log.info("skipping %s: imported concurrently", url)
        result.unchanged += 1
        return
    if isinstance(outcome, Rejection):
        result.rejected.append(Rejection(info.key, outcome.reason))
    else:
        result.added.append(outcome.id)


def _update(
    deps: Runtime,
    source: Source,
    info: ObjectInfo,
    image_id: uuid.UUID,
    url: str,
    result: ImportResult,
) -> None:
    """A known key whose object changed: re-judge it and update the image in place."""
    limits = _limits(deps)
    part = spool(source.store.iter_chunks(info.key), filename=info.key, max_bytes=limits.max_bytes)
    try:
        assert part.path is not None
        try:
            facts = inspect_image(
                part.path, size=part.size, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels
            )
        except RejectedFile as exc:
            result.rejected.append(Rejection(info.key, str(exc)))
            return
        with transaction(deps.sessions) as session:
            image = session.get_one(Image, image_id)
            if not image.external:
                deps.storage.input.put(image.storage_key, part.path, content_type=facts.mime_type)
            image.mime_type, image.size_bytes = facts.mime_type, part.size
            image.width, image.height = facts.width, facts.height
            image.sha256, image.source_etag = part.sha256, info.etag
        result.updated.append(image_id)
    finally:
        part.discard()
