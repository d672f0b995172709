"""Uploading, listing, reading and deleting images; comments on images."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from labelbay.api.deps import (
    OPEN_TO_ANY_ORIGIN,
    ContextDep,
    CurrentUser,
    ImageReader,
    SessionDep,
)
from labelbay.api.params import ImageSelection
from labelbay.api.schemas import (
    CommentIn,
    CommentList,
    CommentOut,
    ImageOut,
    ImagePage,
    ImagePatch,
    Rejected,
    UploadResult,
)
from labelbay.db.models import Image, Project, Role, User
from labelbay.errors import DomainError, NotFound
from labelbay.jobs.start import start_job
from labelbay.security.freejson import check_free_json
from labelbay.services import images
from labelbay.services.projects import require_project
from labelbay.uploads.multipart import FilePart, FormField, MultipartError, StreamingFormReader
from labelbay.uploads.multipart import boundary_of as multipart_boundary

router = APIRouter(prefix="/api/v1", tags=["images"])
log = logging.getLogger(__name__)

UPLOAD_FIELD = "files"

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                        "metadata": {
                            "type": "string",
                            "description": "JSON object stored on every image of this request; "
                            "send it before the files.",
                        },
                    },
                    "required": ["files"],
                }
            }
        },
    }
}


@router.post(
    "/projects/{project_id}/images",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
    responses={422: {"model": UploadResult, "description": "No file was stored"}},
)
async def upload_images(
    project_id: int, request: Request, user: CurrentUser, context: ContextDep, session: SessionDep
) -> Any:
    """Upload any number of JPEG, PNG or WebP files in the multipart field `files`.

    The body is streamed: each file goes to a temporary file as it arrives and is judged on its own
    (type by content, full decode, pixel and size limits, file name). Stored files are in `images`,
    refused ones in `rejected` with the reason. 201 when at least one file was stored, 422 when none.
    """
    project, _ = await run_in_threadpool(
        require_project, session, user=user, project_id=project_id, min_role=Role.annotator
    )
    default_model = project.default_model
    session.commit()  # release the read transaction before a long upload
    settings = context.settings
    try:
        boundary = multipart_boundary(request.headers.get("content-type"))
    except MultipartError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
    limits = images.UploadLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_filename_length=settings.max_filename_length,
    )
    reader = StreamingFormReader(
        boundary,
        max_file_bytes=settings.max_upload_bytes,
        max_files=settings.max_files_per_request,
    )
    stored: list[Image] = []
    rejected: list[images.Rejection] = []
    meta: dict[str, Any] = {}
    seen_files = 0
    try:
        async for chunk in request.stream():
            # Parsing (and creating each part's file) is CPU and disk work: off the event loop.
            await run_in_threadpool(reader.feed, chunk)
            while (part := reader.pop_completed()) is not None:
                if isinstance(part, FormField):
                    if part.name == "metadata":
                        meta = _parse_meta(part.value)
                    continue
                seen_files += 1
                outcome = await _judge(part, project_id, user.id, limits, context, meta)
                (stored if isinstance(outcome, Image) else rejected).append(outcome)  # type: ignore[arg-type]
    except ClientDisconnect:
        # Nobody is listening any more; files finished before the cut stay stored, each whole.
        reader.abort()
        log.info("upload to project %s: client went away after %d files", project_id, seen_files)
        return Response(status_code=499)
    except MultipartError as exc:
        reader.abort()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    except BaseException:
        reader.abort()
        raise
    if not reader.ended:
        reader.abort()  # the part being written when the body stopped: close and delete its file
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "multipart body ended early")
    if reader.files_over_limit:
        limit = settings.max_files_per_request
        rejected.append(
            images.Rejection(
                f"{reader.files_over_limit} more files",
                f"more than {limit} files in one request: the files after the first {limit} "
                "were not read",
            )
        )
    if seen_files == 0:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"no files: send them in the multipart field {UPLOAD_FIELD!r}",
        )
    metrics = context.metrics
    metrics.uploads.labels("stored").inc(len(stored))
    metrics.uploads.labels("rejected").inc(len(rejected))
    metrics.upload_bytes.inc(sum(image.size_bytes for image in stored))
    job_id = None
    if stored and default_model:
        job_id = await run_in_threadpool(
            start_default_job, context, project_id, default_model, [i.id for i in stored], user.id
        )
    result = UploadResult(
        images=[ImageOut.of(image) for image in stored],
        rejected=[Rejected(filename=r.filename, reason=r.reason) for r in rejected],
        job_id=job_id,
    )
    code = status.HTTP_201_CREATED if stored else status.HTTP_422_UNPROCESSABLE_CONTENT
    return JSONResponse(result.model_dump(mode="json"), status_code=code)


def start_default_job(
    context: ContextDep,
    project_id: int,
    model: str,
    image_ids: list[uuid.UUID],
    user_id: int,
) -> int | None:
    """Run the project's default model on what was just uploaded (the circular-detection
    backend's behaviour). A model that can't run is logged; the upload itself stands."""
    try:
        with context.sessions() as session:
            job = start_job(
                session,
                executor=context.executor,
                batch_size=context.settings.job_batch_size,
                project=session.get_one(Project, project_id),
                user=session.get(User, user_id),
                model_name=model,
                image_ids=image_ids,
            )
            return job.id
    except DomainError:
        log.exception("project %s: default model %r not started", project_id, model)
        return None


async def _judge(
    part: FilePart,
    project_id: int,
    uploader_id: int,
    limits: images.UploadLimits,
    context: ContextDep,
    meta: dict[str, Any],
) -> Image | images.Rejection:
    if part.field_name != UPLOAD_FIELD:
        part.discard()
        return images.Rejection(part.filename, f"unexpected field {part.field_name!r}")
    return await run_in_threadpool(
        images.store_upload,
        sessions=context.sessions,
        store=context.storage.input,
        part=part,
        project_id=project_id,
        uploader_id=uploader_id,
        limits=limits,
        meta=meta,
    )


def _parse_meta(value: str) -> dict[str, Any]:
    try:
        meta = json.loads(value)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "metadata is not valid JSON") from exc
    if not isinstance(meta, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "metadata must be a JSON object")
    try:
        return dict(check_free_json(meta))
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"metadata {exc}") from exc


@router.get("/projects/{project_id}/images")
def list_images(
    project_id: int,
    selection: ImageSelection,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[images.Order, Query()] = "asc",
    with_total: bool = False,
) -> ImagePage:
    """A page of the project's images, in upload order (keyset pagination: pass `next_cursor`).

    Filters: `filename` (contains, case-insensitive), `metadata.<key>=<value>`, `review_status`,
    `has_predictions`, `label` (has an annotation with that label).
    """
    require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    settings = context.settings
    size = min(limit or settings.page_size_default, settings.page_size_max)
    rows, next_cursor = images.list_images(
        session,
        project_id=project_id,
        limit=size,
        cursor=cursor,
        order=order,
        selection=selection,
    )
    total = (
        images.count_images(session, project_id=project_id, selection=selection)
        if with_total
        else None
    )
    return ImagePage(images=[ImageOut.of(r) for r in rows], next_cursor=next_cursor, total=total)


@router.get("/images/{image_id}")
def get_image(image_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ImageOut:
    """One image's record."""
    return ImageOut.of(
        images.get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    )


@router.patch("/images/{image_id}")
def update_image(
    image_id: uuid.UUID, body: ImagePatch, user: CurrentUser, session: SessionDep
) -> ImageOut:
    """Replace an image's metadata (annotator and up)."""
    image = images.get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    return ImageOut.of(images.update_image_meta(session, image=image, meta=body.metadata))


@router.get(
    "/images/{image_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}}, 307: {"description": "presigned URL"}},
)
def get_image_content(
    image_id: uuid.UUID, reader: ImageReader, session: SessionDep, context: ContextDep
) -> Any:
    """The image's bytes; on S3, a redirect to a short-lived presigned URL instead.

    Viewers and up sign in as usual. A signed link (`expires` and `signature`, as the Label Studio
    export writes them) needs no credential and may be read by a page of any origin
    (`Access-Control-Allow-Origin: *`); an altered or expired one is a 403 saying which."""
    if reader is None:  # a good signed link: its signature names this image
        image = session.get(Image, image_id)
        if image is None:
            raise NotFound(f"image {image_id} not found")
    else:
        image = images.get_image(session, user=reader, image_id=image_id, min_role=Role.viewer)
    cors = OPEN_TO_ANY_ORIGIN if reader is None else {}
    store, key = images.image_location(image, storage=context.storage, settings=context.settings)
    expires = context.settings.presign_expiry_seconds
    url = store.presign(key, method="GET", expires_in=timedelta(seconds=expires))
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT, headers=cors)
    return StreamingResponse(
        store.iter_chunks(key),
        media_type=image.mime_type,
        headers={
            "Content-Length": str(image.size_bytes),
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{image.sha256}"',
            **cors,
        },
    )


@router.options(
    "/images/{image_id}/content",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={204: {"description": "CORS preflight answered"}},
)
def image_content_preflight(image_id: uuid.UUID) -> Response:
    """The CORS preflight for a signed link: GET from any origin, without credentials (no
    `Authorization` is allowed across origins, so the signed-in API stays same-origin)."""
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            **OPEN_TO_ANY_ORIGIN,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Max-Age": "86400",
        },
    )


@router.delete("/images/{image_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_image(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep, context: ContextDep
) -> None:
    """Delete the image's row and its stored object (manager and up)."""
    image = images.get_image(session, user=user, image_id=image_id, min_role=Role.manager)
    key = images.delete_image(session, image=image)
    session.commit()
    images.delete_objects_quietly(context.storage.input, [key])


@router.post("/images/{image_id}/comments", status_code=status.HTTP_201_CREATED)
def add_comment(
    image_id: uuid.UUID, body: CommentIn, user: CurrentUser, session: SessionDep
) -> CommentOut:
    """Comment on an image (annotator and up)."""
    image = images.get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    return CommentOut.of(images.add_comment(session, image=image, author=user, text=body.text))


@router.get("/images/{image_id}/comments")
def list_comments(image_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> CommentList:
    """The image's comment thread, oldest first (any member)."""
    images.get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    rows = images.list_comments(session, image_id=image_id)
    return CommentList(comments=[CommentOut.of(c) for c in rows])
