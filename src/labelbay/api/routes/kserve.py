"""labelbay's models over the KServe v2 / Open Inference Protocol REST API, so that one labelbay can be
another's remote model (`format="kserve"`).

An image goes in as a UINT8 tensor `[1, H, W, 3]` (data flat row-major, or nested), or as a BYTES
tensor `[1]` holding one base64 JPEG/PNG. Detections come back as `boxes` FP32 `[N, 4]` (xyxy pixels),
`scores` FP32 `[N]`, `class_ids` INT64 `[N]`, plus `text` BYTES `[N]` and `circles` FP32 `[N, 3]` when
the model gives them; `parameters.class_names` names the ids. Errors are `{"error": message}`, as the
protocol has them. The health endpoints are open (probes); the model endpoints need the same sign-in
as the rest of the API.
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, Protocol

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import ContextDep, CurrentUser
from labelbay.inference.base import Model, ModelError, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.imageio import ImageDecodeError, decode_image, image_size

INPUT_NAME = "image"
INPUT_METADATA = [{"name": INPUT_NAME, "datatype": "UINT8", "shape": [1, -1, -1, 3]}]
OUTPUT_METADATA = [
    {"name": "boxes", "datatype": "FP32", "shape": [-1, 4]},
    {"name": "scores", "datatype": "FP32", "shape": [-1]},
    {"name": "class_ids", "datatype": "INT64", "shape": [-1]},
    {"name": "text", "datatype": "BYTES", "shape": [-1]},
    {"name": "circles", "datatype": "FP32", "shape": [-1, 3]},
]
OUTPUT_NAMES = frozenset(str(o["name"]) for o in OUTPUT_METADATA)
# Flat JSON spends at most 4 bytes per UINT8 value ("255,"); allow for spaces and nesting too.
BODY_BYTES_PER_PIXEL = 3 * 6


class ModelSource(Protocol):
    """What the app serves: `context.models`."""

    def get(self, name: str) -> Model: ...

    def names(self) -> list[str]: ...


class V2Route(APIRoute):
    """Errors in the v2 shape, `{"error": message}`, and 400 (not 422) for a malformed body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return JSONResponse(
                    {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
                )
            except RequestValidationError as exc:
                return JSONResponse({"error": _validation_message(exc.errors())}, status_code=400)

        return handle


router = APIRouter(prefix="/v2", tags=["kserve"], route_class=V2Route)


class InferTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferTensor] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = None


def get_models(context: ContextDep) -> ModelSource:
    models: ModelSource | None = getattr(context, "models", None)
    if models is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this server serves no models")
    return models


ModelsDep = Annotated[ModelSource, Depends(get_models)]


def get_model(_user: CurrentUser, name: str, models: ModelsDep) -> Model:
    """The named model, loaded; 404 for a name the server does not know (after sign-in)."""
    try:
        return models.get(name)
    except ModelError as exc:
        if name in models.names():
            raise HTTPException(500, f"model {name!r} cannot be loaded: {exc}") from exc
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


ModelDep = Annotated[Model, Depends(get_model)]


@router.get("/health/live")
def live() -> dict[str, bool]:
    """Liveness: the server answers."""
    return {"live": True}


@router.get("/health/ready", responses={503: {"description": "no models are served"}})
def server_ready(context: ContextDep) -> JSONResponse:
    """Readiness for inference: the server has models to serve."""
    ready = getattr(context, "models", None) is not None
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("/models/{name}", responses={404: {"description": "no such model"}})
def model_metadata(name: str, model: ModelDep) -> dict[str, Any]:
    """The model's inputs and outputs. `parameters.class_names` names the class ids."""
    spec = model.spec
    return {
        "name": name,
        "versions": [spec.version],
        "platform": "labelbay",
        "inputs": INPUT_METADATA,
        "outputs": OUTPUT_METADATA,
        "parameters": {"task": spec.task, "class_names": list(spec.class_names)},
    }


@router.get("/models/{name}/ready", responses={404: {"description": "no such model"}})
def model_ready(name: str, model: ModelDep) -> dict[str, Any]:
    """Whether the model is loaded and can take requests (it is, once it answers)."""
    return {"name": name, "ready": True}


def _inline_refs(schema: Any, definitions: dict[str, Any]) -> Any:
    """A JSON schema with its `$defs` references written out (OpenAPI resolves refs from its root)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline_refs(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
        return {k: _inline_refs(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(v, definitions) for v in schema]
    return schema


_REQUEST_SCHEMA = InferRequest.model_json_schema()
INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": _inline_refs(_REQUEST_SCHEMA, _REQUEST_SCHEMA.get("$defs", {}))
        }
    },
}


@router.post(
    "/models/{name}/infer",
    openapi_extra={"requestBody": INFER_BODY},
    responses={
        400: {"description": "a malformed request"},
        404: {"description": "no such model"},
        413: {"description": "a body larger than the largest image allowed"},
    },
)
async def infer(
    name: str, request: Request, model: ModelDep, context: ContextDep
) -> dict[str, Any]:
    """Detect objects in one image: UINT8 `[1, H, W, 3]` pixels, or BYTES `[1]` base64 JPEG/PNG."""
    # The body is parsed in the thread pool, not by FastAPI: the JSON of a 1080p image holds six
    # million numbers, and parsing them on the event loop would stall every other request.
    max_pixels = context.settings.max_image_pixels
    raw = await _read_body(request, limit=max_pixels * BODY_BYTES_PER_PIXEL + 1_000_000)
    return await run_in_threadpool(run_inference, name, model, raw, max_pixels=max_pixels)


def run_inference(name: str, model: Model, raw: bytes, *, max_pixels: int) -> dict[str, Any]:
    """Parse, validate and answer one v2 inference request (HTTP 4xx/5xx as HTTPException)."""
    try:
        body = InferRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise _bad(_validation_message(exc.errors())) from None
    if len(body.inputs) != 1 or body.inputs[0].name != INPUT_NAME:
        given = [t.name for t in body.inputs]
        raise _bad(f"expected one input named {INPUT_NAME!r}, got {given}")
    wanted = [o.name for o in body.outputs] if body.outputs else None
    unknown = sorted(set(wanted or ()) - OUTPUT_NAMES)
    if unknown:
        raise _bad(f"unknown outputs {unknown}; this model has {sorted(OUTPUT_NAMES)}")
    image = image_of(body.inputs[0], max_pixels=max_pixels)
    try:
        detections = model.predict([image])[0]
    except ModelError as exc:
        raise HTTPException(500, f"model {name!r} failed: {exc}") from exc
    return {
        "model_name": name,
        "model_version": model.spec.version,
        "id": body.id or uuid.uuid4().hex,
        "parameters": {"class_names": list(detections.class_names or model.spec.class_names)},
        "outputs": output_tensors(detections, wanted),
    }


async def _read_body(request: Request, *, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"the request body is over {limit} bytes"
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def image_of(tensor: InferTensor, *, max_pixels: int) -> RGBImage:
    """RGB pixels from the input tensor; HTTP 400 saying what is wrong with it."""
    if tensor.datatype == "UINT8":
        return _pixels(tensor, max_pixels)
    if tensor.datatype == "BYTES":
        return _decoded(tensor, max_pixels)
    raise _bad(
        f"input {INPUT_NAME!r} must be UINT8 [1, H, W, 3] pixels or BYTES [1] holding a base64 "
        f"image, not {tensor.datatype}"
    )


def _pixels(tensor: InferTensor, max_pixels: int) -> RGBImage:
    shape = tensor.shape
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or min(shape) < 1:
        raise _bad(f"input shape must be [1, H, W, 3] with H, W >= 1, not {shape}")
    height, width = shape[1], shape[2]
    _check_size(width, height, max_pixels)
    try:
        array = np.asarray(tensor.data)
    except (ValueError, TypeError, OverflowError):
        raise _bad("input data is not a regular array of numbers") from None
    if array.size != height * width * 3:
        raise _bad(f"input data has {array.size} values; shape {shape} needs {height * width * 3}")
    if array.dtype.kind not in "iu" or array.min() < 0 or array.max() > 255:
        raise _bad("UINT8 data must be integers from 0 to 255")
    return np.ascontiguousarray(array.astype(np.uint8).reshape(height, width, 3))


def _decoded(tensor: InferTensor, max_pixels: int) -> RGBImage:
    data = tensor.data
    if tensor.shape != [1] or len(data) != 1 or not isinstance(data[0], str):
        raise _bad("a BYTES image input has shape [1] and holds one base64 string")
    try:
        encoded = base64.b64decode(data[0], validate=True)
    except (binascii.Error, ValueError):
        raise _bad("the BYTES input is not valid base64") from None
    size = image_size(encoded)
    if size is not None:
        _check_size(*size, max_pixels)
    try:
        return decode_image(encoded).pixels
    except ImageDecodeError as exc:
        raise _bad(f"the BYTES input is {exc}") from None


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise _bad(f"a {width}x{height} image is over this server's limit of {max_pixels} pixels")


def output_tensors(detections: Detections, wanted: list[str] | None) -> list[dict[str, Any]]:
    """The v2 output tensors of one image's detections, all of them or those `wanted`."""
    count = len(detections)
    tensors = [
        _tensor("boxes", "FP32", [count, 4], detections.xyxy.ravel().tolist()),
        _tensor("scores", "FP32", [count], detections.confidence.tolist()),
        _tensor("class_ids", "INT64", [count], detections.class_id.tolist()),
    ]
    if detections.text is not None or (wanted and "text" in wanted):
        text = list(detections.text) if detections.text is not None else [""] * count
        tensors.append(_tensor("text", "BYTES", [count], text))
    if detections.circles is not None or (wanted and "circles" in wanted):
        circles = detections.circles
        values = [math.nan] * (3 * count) if circles is None else circles.ravel().tolist()
        # JSON has no NaN: a row without a circle (after a merge) is sent as nulls.
        tensors.append(
            _tensor("circles", "FP32", [count, 3], [None if math.isnan(v) else v for v in values])
        )
    return [t for t in tensors if wanted is None or t["name"] in wanted]


def _tensor(name: str, datatype: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def _validation_message(errors: Sequence[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return "malformed request: " + "; ".join(parts)
