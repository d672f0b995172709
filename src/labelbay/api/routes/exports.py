"""Exporting a project's labels (or a selection of its images) as COCO, YOLO, CSV, JSON, Label
Studio tasks, Pascal VOC or CVAT XML; the body is streamed page by page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.params import ImageSelection
from labelbay.db.models import Annotation, Image, ModelVersion, Role
from labelbay.errors import Invalid
from labelbay.exports.base import ExportImage
from labelbay.exports.formats import WITH_IMAGES, Format, media_type, stream_export
from labelbay.exports.labelstudio import labeling_config
from labelbay.exports.project import Source
from labelbay.security.signed_urls import expiry, signed_query
from labelbay.services import images
from labelbay.services.images import image_location
from labelbay.services.models import get_version
from labelbay.services.projects import label_names, require_project

router = APIRouter(prefix="/api/v1", tags=["exports"])


@router.get(
    "/projects/{project_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/json": {},
                "application/zip": {},
                "text/csv": {},
                "application/xml": {},
            }
        }
    },
)
def export_project(
    project_id: int,
    request: Request,
    image_filter: ImageSelection,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    format: Format = "coco",
    source: Source = "predictions",
    model: Annotated[str | None, Query(max_length=100)] = None,
    model_version: Annotated[str | None, Query(max_length=50)] = None,
    include_images: bool = False,
) -> StreamingResponse:
    """Download the project's labels (viewer and up).

    `source`: `predictions` (one model's labels, with scores; `model` names it, default the
    project's default model, `model_version` a version, default the active one; labels a
    reviewer rejected are left out), `annotations` (people's labels), or `both`. The selection
    filters are the image list's: `filename`, `metadata.<key>=<value>`, `review_status`,
    `has_predictions`, `label`. Every selected image is listed, with or without labels.
    Category ids (COCO, 1-based) and class indices (YOLO, 0-based) follow the project's label set,
    or the model's classes when the set is empty. File names are unique by stem (a repeat is
    prefixed with the image id). Label Studio tasks fit `GET …/export/labelstudio-config`; their
    image URLs are signed links that open the image without sign-in, from any origin, for
    `LABELBAY_SIGNED_URL_EXPIRY_SECONDS` (default 7 days).

    COCO is one JSON file, or, with `source=both` or `include_images=true`, a zip laid out as
    datumaro and supervision read it: `annotations/instances_default.json`, `images/` (with
    `include_images`), and for `both` `predictions.json` (the model's labels as a COCO results list,
    same image and category ids; the COCO file then holds people's labels only). A YOLO zip with
    `include_images=true` has `images/` beside `labels/`, as Ultralytics reads it. `yolo-seg`
    is Ultralytics' segment layout (every label as its outline; a mask's largest part). `masks`
    is a zip of PNG maps per image (16-bit instance ids, class indices) with `instances.csv` and
    `classes.csv`. Masks are RLE `segmentation`s in COCO, `brushlabels`
    regions (Label Studio's own RLE) in Label Studio.

    VOC is a zip: `Annotations/<stem>.xml` (whole-pixel boxes; circles and polygons as their
    boxes; a prediction's score as an `attributes` entry), `ImageSets/Main/default.txt`,
    `labelmap.txt`, and `JPEGImages/` with `include_images`. CVAT is CVAT for images 1.1's
    `annotations.xml` (boxes, polygons, circles as ellipses, image classes as tags, scores as a
    `score` attribute), or with `include_images` a zip of it and `images/`.
    """
    project, _ = require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    version: ModelVersion | None = None
    if source != "annotations":
        name = model or project.default_model
        if not name:
            raise Invalid("exporting predictions needs `model` (the project has no default model)")
        version = get_version(session, name=name, version=model_version)
    # Bad filters fail here, as a 422, rather than halfway through a streamed body.
    images.list_images(session, project_id=project_id, limit=1, selection=image_filter)
    categories = label_names(session, project_id=project_id, model=version)
    session.commit()
    base = str(request.base_url).rstrip("/")
    # One expiry for the whole export; each link opens its own image only.
    expires = expiry(context.settings.signed_url_expiry_seconds)
    secret = context.settings.secret_key.get_secret_value()

    def image_url(image: ExportImage) -> str:
        assert image.id is not None  # a project's images always have ids
        link = signed_query(image.id, expires=expires, secret=secret)
        return f"{base}/api/v1/images/{image.id}/content?{link}"

    def image_bytes(image: ExportImage) -> bytes:
        with context.sessions() as reading:
            row = reading.get_one(Image, image.id)
            store, key = image_location(row, storage=context.storage, settings=context.settings)
        return store.get(key)

    with_images = include_images and format in WITH_IMAGES
    content_type, extension = media_type(format, source, with_images)
    body = stream_export(
        context.sessions,
        project_id=project_id,
        format=format,
        source=source,
        model=version,
        categories=categories,
        image_filter=image_filter,
        image_url=image_url,
        image_bytes=image_bytes if with_images else None,
    )
    download = f"project-{project_id}-{source}-{format}.{extension}"
    return StreamingResponse(
        body,
        media_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{download}"'},
    )


@router.get(
    "/projects/{project_id}/export/labelstudio-config",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
def labelstudio_config(
    project_id: int,
    user: CurrentUser,
    session: SessionDep,
    model: Annotated[str | None, Query(max_length=100)] = None,
    model_version: Annotated[str | None, Query(max_length=50)] = None,
) -> Response:
    """The Label Studio labeling config that the `labelstudio` export fits (viewer and up): one
    control per region type (`box`, `circle`, `polygon`, `brush`, `text_line` with its
    `transcription`, `class`), each listing the project's label set, the model's classes (`model`, default the
    project's default model) and every class people have used."""
    project, _ = require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    name = model or project.default_model
    version = get_version(session, name=name, version=model_version) if name else None
    classes = label_names(session, project_id=project_id, model=version)
    if version is not None:
        classes += [c for c in version.class_names if c not in classes]
    used = session.scalars(
        select(Annotation.label)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id)
        .distinct()
        .order_by(Annotation.label)
    )
    classes += [c for c in used if c not in classes]
    return Response(labeling_config(classes), media_type="application/xml")
