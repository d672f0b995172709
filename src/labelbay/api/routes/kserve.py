"""labelbay's models over the KServe v2 / Open Inference Protocol REST API, so that one labelbay can be
another's remote model (`format="kserve"`), and the `kserve` SDK's or Triton's clients can call it.

An image goes in as a UINT8 tensor `[1, H, W, 3]` (data flat row-major, or nested), or as a BYTES
tensor `[1]` holding one JPEG/PNG (base64 in JSON, raw bytes as binary data). Detections come back
as `boxes` FP32 `[N, 4]` (xyxy pixels), `scores` FP32 `[N]`, `class_ids` INT64 `[N]`, plus `text`
BYTES `[N]` and `circles` FP32 `[N, 3]` when the model gives them; `parameters.class_names` names
the ids. FP32 outputs never hold null: a row that is not a circle has `circles` `[0, 0, 0]` (a
radius of 0 means "no circle"), and a row whose box or score is not a finite number is dropped, as
it is when labels are stored. Tensors may travel as JSON or as binary data after the JSON (the
binary tensor data extension, `api/v2tensors.py`), in both directions. `/v2/models/{name}` serves
the active version, `/v2/models/{name}/versions/{version}` any registered one. Errors are
`{"error": message}`, as the protocol has them, for every path under `/v2` (`api/errors.py`).
Server metadata and the health endpoints are open (probes); the model endpoints need the same
sign-in as the rest of the API.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from labelbay import __version__
from labelbay.api import v2tensors
from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.v2tensors import TensorError
from labelbay.errors import NotFound
from labelbay.inference.base import ModelError, ModelSpec, RGBImage
from labelbay.inference.detections import Detections
from labelbay.inference.imageio import ImageDecodeError, decode_image, image_size
from labelbay.jobs.model_processes import ModelProcessCrashed
from labelbay.services.models import get_version, list_versions

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
DATATYPE_OF = {str(o["name"]): str(o["datatype"]) for o in OUTPUT_METADATA}
SERVER_METADATA = {"name": "labelbay", "version": __version__, "extensions": [v2tensors.EXTENSION]}
# Flat JSON spends at most 4 bytes per UINT8 value ("255,"); allow for spaces and nesting too.
BODY_BYTES_PER_PIXEL = 3 * 6


class Served(Protocol):
    """A served model: what it is, and a predict that runs wherever the source runs models (the
    model processes, for the app's own source)."""

    @property
    def spec(self) -> ModelSpec: ...

    def predict(self, images: Sequence[RGBImage]) -> list[Detections]: ...


class ModelSource(Protocol):
    """What the app serves: `context.models` (`jobs.model_processes.ProcessModels`)."""

    def get(self, name: str) -> Served: ...

    def get_by_id(self, model_version_id: int) -> Served: ...

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
    data: list[Any] | None = None  # None: binary data after the JSON (`binary_data_size`)
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


def get_model(_user: CurrentUser, name: str, models: ModelsDep) -> Served:
    """The named model's active version, loaded; 404 for a name the server does not know (after
    sign-in)."""
    try:
        return models.get(name)
    except ModelProcessCrashed as exc:
        raise HTTPException(500, f"model {name!r} cannot be loaded: {exc}") from exc
    except ModelError as exc:
        if name in models.names():
            raise HTTPException(500, f"model {name!r} cannot be loaded: {exc}") from exc
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def get_model_version(
    _user: CurrentUser, name: str, version: str, models: ModelsDep, session: SessionDep
) -> Served:
    """One registered version of the model, loaded; 404 for a name or version not registered."""
    try:
        row_id = get_version(session, name=name, version=version).id
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    session.commit()  # a built-in's row made on first use: the model cache reads it in its own
    try:
        return models.get_by_id(row_id)
    except (ModelError, ModelProcessCrashed) as exc:
        raise HTTPException(
            500, f"model {name!r} version {version!r} cannot be loaded: {exc}"
        ) from exc


ModelDep = Annotated[Served, Depends(get_model)]
ModelVersionDep = Annotated[Served, Depends(get_model_version)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such model or version"}}


@router.get("")
def server_metadata() -> dict[str, Any]:
    """The server's name, version and the protocol extensions it supports."""
    return SERVER_METADATA


@router.get("/health/live")
def live() -> dict[str, bool]:
    """Liveness: the server answers."""
    return {"live": True}


@router.get("/health/ready", responses={503: {"description": "no models are served"}})
def server_ready(context: ContextDep) -> JSONResponse:
    """Readiness for inference: the server has models to serve."""
    ready = getattr(context, "models", None) is not None
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("/models/{name}", responses=NOT_FOUND)
def model_metadata(name: str, model: ModelDep, session: SessionDep) -> dict[str, Any]:
    """The active version's inputs and outputs; `versions` lists every registered version.
    `parameters.class_names` names the class ids."""
    return _metadata(name, model, session)


@router.get("/models/{name}/versions/{version}", responses=NOT_FOUND)
def model_version_metadata(
    name: str, model: ModelVersionDep, session: SessionDep
) -> dict[str, Any]:
    """One version's inputs and outputs."""
    return _metadata(name, model, session)


def _metadata(name: str, model: Served, session: SessionDep) -> dict[str, Any]:
    spec = model.spec
    versions = [row.version for row in list_versions(session, name=name)]
    return {
        "name": name,
        "versions": versions or [spec.version],
        "platform": "labelbay",
        "inputs": INPUT_METADATA,
        "outputs": OUTPUT_METADATA,
        "parameters": {
            "version": spec.version,
            "task": spec.task,
            "class_names": list(spec.class_names),
        },
    }


@router.get("/models/{name}/ready", responses=NOT_FOUND)
def model_ready(name: str, model: ModelDep) -> dict[str, Any]:
    """Whether the model is loaded and can take requests (it is, once it answers)."""
    return {"name": name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready", responses=NOT_FOUND)
def model_version_ready(name: str, model: ModelVersionDep) -> dict[str, Any]:
    """Whether that version is loaded and can take requests (it is, once it answers)."""
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
        },
        "application/octet-stream": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": f"the JSON request, then the binary tensors; the "
                f"{v2tensors.HEADER_LENGTH} header gives the JSON's length",
            }
        },
    },
}
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the detections; with binary outputs, the JSON answer followed by their "
        f"bytes, its length in the {v2tensors.HEADER_LENGTH} header",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    400: {"description": "a malformed request"},
    **NOT_FOUND,
    413: {"description": "a body larger than the largest image allowed"},
}


@router.post(
    "/models/{name}/infer", openapi_extra={"requestBody": INFER_BODY}, responses=INFER_RESPONSES
)
async def infer(name: str, request: Request, model: ModelDep, context: ContextDep) -> Response:
    """Detect objects in one image: UINT8 `[1, H, W, 3]` pixels, or BYTES `[1]` JPEG/PNG."""
    return await _infer(name, request, model, context)


@router.post(
    "/models/{name}/versions/{version}/infer",
    openapi_extra={"requestBody": INFER_BODY},
    responses=INFER_RESPONSES,
)
async def infer_version(
    name: str, request: Request, model: ModelVersionDep, context: ContextDep
) -> Response:
    """Detect objects in one image with one registered version of the model."""
    return await _infer(name, request, model, context)


async def _infer(name: str, request: Request, model: Served, context: ContextDep) -> Response:
    # The body is parsed in the thread pool, not by FastAPI: the JSON of a 1080p image holds six
    # million numbers, and parsing them on the event loop would stall every other request.
    max_pixels = context.settings.max_image_pixels
    raw = await _read_body(request, limit=max_pixels * BODY_BYTES_PER_PIXEL + 1_000_000)
    header_length = request.headers.get(v2tensors.HEADER_LENGTH)
    answer = await run_in_threadpool(
        run_inference, name, model, raw, header_length=header_length, max_pixels=max_pixels
    )
    if answer.header_length is None:
        return Response(answer.body, media_type="application/json")
    return Response(
        answer.body,
        media_type="application/octet-stream",
        headers={v2tensors.HEADER_LENGTH: str(answer.header_length)},
    )


@dataclass(frozen=True)
class Answer:
    """An inference answer's body; `header_length` is set when binary outputs follow the JSON."""

    body: bytes
    header_length: int | None


def run_inference(
    name: str, model: Served, raw: bytes, *, header_length: str | None = None, max_pixels: int
) -> Answer:
    """Parse, validate and answer one v2 inference request (HTTP 4xx/5xx as HTTPException)."""
    try:
        header, binary = v2tensors.split_body(raw, header_length)
    except TensorError as exc:
        raise _bad(str(exc)) from None
    try:
        body = InferRequest.model_validate_json(header)
    except ValidationError as exc:
        raise _bad(_validation_message(exc.errors())) from None
    if len(body.inputs) != 1 or body.inputs[0].name != INPUT_NAME:
        given = [t.name for t in body.inputs]
        raise _bad(f"expected one input named {INPUT_NAME!r}, got {given}")
    wanted = [o.name for o in body.outputs] if body.outputs else None
    unknown = sorted(set(wanted or ()) - OUTPUT_NAMES)
    if unknown:
        raise _bad(f"unknown outputs {unknown}; this model has {sorted(OUTPUT_NAMES)}")
    binary_outputs = _binary_outputs(body)
    try:
        sizes = [v2tensors.binary_size(t.name, t.parameters) for t in body.inputs]
        (tensor_bytes,) = v2tensors.slice_inputs(sizes, binary)
    except TensorError as exc:
        raise _bad(str(exc)) from None
    image = image_of(body.inputs[0], max_pixels=max_pixels, raw=tensor_bytes)
    try:
        detections = model.predict([image])[0]
    except (ModelError, ModelProcessCrashed) as exc:
        raise HTTPException(500, f"model {name!r} failed: {exc}") from exc
    tensors, raw_outputs = [], []
    for output in outputs(detections, wanted):
        if binary_outputs(output.name):
            data = v2tensors.encode(output.datatype, output.array)
            tensors.append(output.header() | {"parameters": {v2tensors.SIZE_PARAMETER: len(data)}})
            raw_outputs.append(data)
        else:
            tensors.append(output.json())
    reply = {
        "model_name": name,
        "model_version": model.spec.version,
        "id": body.id or uuid.uuid4().hex,
        "parameters": {"class_names": list(detections.class_names or model.spec.class_names)},
        "outputs": tensors,
    }
    answer, length = v2tensors.join(reply, raw_outputs)
    return Answer(answer, length if raw_outputs else None)


def _binary_outputs(body: InferRequest) -> Callable[[str], bool]:
    """Whether an output goes back as binary data: its own `binary_data` parameter, else the
    request's `binary_data_output` (default JSON)."""
    default = _flag(body.parameters, "binary_data_output", False)
    own = {o.name: _flag(o.parameters, "binary_data", default) for o in body.outputs or ()}
    return lambda output: own.get(output, default)


def _flag(parameters: dict[str, Any] | None, key: str, default: bool) -> bool:
    value = (parameters or {}).get(key, default)
    if not isinstance(value, bool):
        raise _bad(f"parameter {key} must be true or false, not {value!r}")
    return value


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


def image_of(tensor: InferTensor, *, max_pixels: int, raw: bytes | None = None) -> RGBImage:
    """RGB pixels from the input tensor, its data in the JSON or `raw` (binary data); HTTP 400
    saying what is wrong with it."""
    if (tensor.data is None) == (raw is None):
        raise _bad(
            f"input {INPUT_NAME!r} needs its data either in 'data' or as binary data "
            f"('{v2tensors.SIZE_PARAMETER}' and the {v2tensors.HEADER_LENGTH} header), not "
            + ("both" if raw is not None else "neither")
        )
    if tensor.datatype == "UINT8":
        return _pixels(tensor, max_pixels, raw)
    if tensor.datatype == "BYTES":
        return _decoded(tensor, max_pixels, raw)
    raise _bad(
        f"input {INPUT_NAME!r} must be UINT8 [1, H, W, 3] pixels or BYTES [1] holding an "
        f"image, not {tensor.datatype}"
    )


def _pixels(tensor: InferTensor, max_pixels: int, raw: bytes | None) -> RGBImage:
    shape = tensor.shape
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or min(shape) < 1:
        raise _bad(f"input shape must be [1, H, W, 3] with H, W >= 1, not {shape}")
    height, width = shape[1], shape[2]
    _check_size(width, height, max_pixels)
    if raw is not None:
        try:
            pixels = v2tensors.decode(INPUT_NAME, "UINT8", shape, raw)
        except TensorError as exc:
            raise _bad(str(exc)) from None
        return np.ascontiguousarray(pixels.reshape(height, width, 3))
    try:
        array = np.asarray(tensor.data)
    except (ValueError, TypeError, OverflowError):
        raise _bad("input data is not a regular array of numbers") from None
    if array.size != height * width * 3:
        raise _bad(f"input data has {array.size} values; shape {shape} needs {height * width * 3}")
    if array.dtype.kind not in "iu" or array.min() < 0 or array.max() > 255:
        raise _bad("UINT8 data must be integers from 0 to 255")
    return np.ascontiguousarray(array.astype(np.uint8).reshape(height, width, 3))


def _decoded(tensor: InferTensor, max_pixels: int, raw: bytes | None) -> RGBImage:
    if raw is not None:
        try:
            elements = v2tensors.decode(INPUT_NAME, "BYTES", tensor.shape, raw).ravel()
        except TensorError as exc:
            raise _bad(str(exc)) from None
        if tensor.shape != [1]:
            raise _bad("a BYTES image input has shape [1] and holds one image file")
        encoded = bytes(elements[0])
    else:
        data = tensor.data or []
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


@dataclass(frozen=True)
class Output:
    """One output tensor; `array` has the tensor's shape (BYTES: an object array of text)."""

    name: str
    datatype: str
    array: npt.NDArray[Any]

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.array.shape)}

    def json(self) -> dict[str, Any]:
        return self.header() | {"data": self.array.ravel().tolist()}


NO_CIRCLE = (0.0, 0.0, 0.0)  # a `circles` row of a detection that is not a circle


def outputs(detections: Detections, wanted: list[str] | None) -> list[Output]:
    """The v2 output tensors of one image's detections, all of them or those `wanted`.

    Every FP32 value is a finite number: rows whose box or score is not (a model's NaN) are
    dropped, as `Detections.to_labels` drops them, and rows without a circle are `NO_CIRCLE`.
    """
    finite = np.isfinite(detections.xyxy).all(axis=1) & np.isfinite(detections.confidence)
    if detections.circles is not None:
        has_circle = np.isfinite(detections.circles).all(axis=1)
        finite &= has_circle | np.isnan(detections.circles).all(axis=1)
    if not finite.all():
        detections = detections[finite]
    count = len(detections)
    found = [
        Output("boxes", "FP32", detections.xyxy.astype(np.float32).reshape(count, 4)),
        Output("scores", "FP32", detections.confidence.astype(np.float32)),
        Output("class_ids", "INT64", detections.class_id.astype(np.int64)),
    ]
    if detections.text is not None or (wanted and "text" in wanted):
        text = detections.text if detections.text is not None else ("",) * count
        found.append(Output("text", "BYTES", np.array(list(text), dtype=object)))
    if detections.circles is not None or (wanted and "circles" in wanted):
        circles = np.tile(np.asarray(NO_CIRCLE, dtype=np.float32), (count, 1))
        if detections.circles is not None:
            rows = ~np.isnan(detections.circles).any(axis=1)
            circles[rows] = detections.circles[rows]
        found.append(Output("circles", "FP32", circles))
    return [t for t in found if wanted is None or t.name in wanted]


def output_tensors(detections: Detections, wanted: list[str] | None) -> list[dict[str, Any]]:
    """The outputs as v2 JSON tensors."""
    return [output.json() for output in outputs(detections, wanted)]


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def _validation_message(errors: Sequence[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return "malformed request: " + "; ".join(parts)
