"""Assisted masks: `POST /api/v1/images/{id}/assist` turns a box, clicks or a wand point into a mask."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.db.models import Image, Role
from labelbay.inference import assist as tools
from labelbay.jobs.model_processes import ModelProcessCrashed
from labelbay.runtime import Runtime
from labelbay.services import images
from labelbay.services.assist import SamClicks, assisted_mask

router = APIRouter(prefix="/api/v1", tags=["images"])

MAX_CLICKS = 100
Coordinate = Annotated[float, Field(allow_inf_nan=False)]
XY = tuple[Coordinate, Coordinate]
ClickLabel = Literal[0, 1]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoxTool(_Body):
    """GrabCut initialised from `box` = [x, y, w, h] in image pixels."""

    tool: Literal["box"]
    box: tuple[Coordinate, Coordinate, Coordinate, Coordinate]


class ClicksTool(_Body):
    """Clicks at `points` ([x, y] in image pixels), `labels` 1 = object, 0 = background; at least
    one 1. A marker watershed grows the object from its clicks until it meets the background."""

    tool: Literal["clicks"]
    points: list[XY] = Field(min_length=1, max_length=MAX_CLICKS)
    labels: list[ClickLabel] = Field(min_length=1, max_length=MAX_CLICKS)


class WandTool(_Body):
    """Flood fill from `point` over 8-connected pixels within `tolerance` of its colour."""

    tool: Literal["wand"]
    point: XY
    tolerance: int = Field(default=24, ge=0, le=tools.MAX_TOLERANCE)


class SamTool(_Body):
    """Clicks for a registered SAM model (format `onnx-sam`): only its decoder runs once the
    image's embedding is cached (a job over the model caches every image's)."""

    tool: Literal["sam"]
    model_version_id: int
    points: list[XY] = Field(min_length=1, max_length=MAX_CLICKS)
    labels: list[ClickLabel] = Field(min_length=1, max_length=MAX_CLICKS)


AssistIn = Annotated[BoxTool | ClicksTool | WandTool | SamTool, Field(discriminator="tool")]


class RLE(BaseModel):
    size: tuple[int, int] = Field(description="[height, width]")
    counts: str = Field(description="COCO compressed RLE, as pycocotools encodes it")


class AssistOut(BaseModel):
    mask: RLE
    polygon: list[tuple[int, int]] = Field(description="outline of the mask's largest part")
    box: tuple[int, int, int, int] = Field(description="[x, y, w, h] of the whole mask")
    area: int


@router.post("/images/{image_id}/assist")
def assist_mask(
    image_id: uuid.UUID,
    body: AssistIn,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> AssistOut:
    """A mask from a box (GrabCut), clicks (watershed), a wand point (flood fill) or a SAM
    model's clicks (annotator and up; nothing is stored). Everything is in the full image's
    pixels; the tools work on a copy whose longer side is at most 512 pixels and scale up."""
    image = images.get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    tool: tools.Tool | SamClicks
    if isinstance(body, BoxTool):
        tool = tools.Box(*body.box)
    elif isinstance(body, ClicksTool):
        tool = tools.Clicks(list(body.points), list(body.labels))
    elif isinstance(body, WandTool):
        tool = tools.Wand(body.point, body.tolerance)
    else:
        tool = SamClicks(body.model_version_id, list(body.points), list(body.labels))
    # OpenCV's graph cuts and a SAM decoder are native code: they run in a model process, like
    # every model, so a crash there is a 500 for this request and not the end of the server.
    try:
        answer = context.processes.call(assist_in_model_process, image.id, tool).result()
    except ModelProcessCrashed as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    return AssistOut.model_validate(answer)


def assist_in_model_process(
    runtime: Runtime, image_id: uuid.UUID, tool: tools.Tool | SamClicks
) -> dict[str, Any]:
    """The assisted mask as the API answers it, made in a model process (`Invalid` comes back
    to the caller as it was raised)."""
    with runtime.sessions() as session:
        image = session.get_one(Image, image_id)
    answer = assisted_mask(
        image, tool, storage=runtime.storage, settings=runtime.settings, models=runtime.models
    )
    return answer.to_json()
