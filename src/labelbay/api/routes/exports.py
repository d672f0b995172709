"""Exporting a project's labels (or a selection of its images) as COCO, YOLO, CSV, JSON or
Label Studio tasks; the body is streamed page by page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.params import ImageSelection
from labelbay.db.models import ModelVersion, Role
from labelbay.errors import Invalid
from labelbay.exports.formats import MEDIA_TYPES, Format, stream_export
from labelbay.exports.project import ExportImage, Source, label_names
from labelbay.services import images
from labelbay.services.models import get_version
from labelbay.services.projects import require_project

router = APIRouter(prefix="/api/v1", tags=["exports"])


@router.get(
    "/projects/{project_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}, "application/zip": {}, "text/csv": {}}}},
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
) -> StreamingResponse:
    """Download the project's labels (viewer and up).

    `source`: `predictions` (one model's detections, with scores; `model` names it, default the
    project's default model, `model_version` a version, default the active one; detections a
    reviewer rejected are left out), `annotations` (people's labels), or `both`. The selection
    filters are the image list's: `filename`, `metadata.<key>=<value>`, `review_status`,
    `has_predictions`, `label`. Every selected image is listed, with or without labels.
    Category ids (COCO, 1-based) and class indices (YOLO, 0-based) follow the project's label set,
    or the model's classes when the set is empty.
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

    def image_url(image: ExportImage) -> str:
        return f"{base}/api/v1/images/{image.id}/content"

    media_type, extension = MEDIA_TYPES[format]
    body = stream_export(
        context.sessions,
        project_id=project_id,
        format=format,
        source=source,
        model=version,
        categories=categories,
        image_filter=image_filter,
        image_url=image_url,
    )
    download = f"project-{project_id}-{source}-{format}.{extension}"
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{download}"'},
    )
