"""A remote model behind the KServe v2 / Open Inference Protocol REST API, JSON tensors.

`spec.url` is the server's base URL and `spec.name` the remote model's name. Each image goes out as
one request (images differ in size) holding a UINT8 tensor `[1, H, W, 3]`, flattened row-major, to
`POST {url}/v2/models/{name}/infer`. The answer's outputs `boxes` (`[N, 4]` xyxy in pixels of the image
sent; a leading batch dimension of 1 is accepted), `scores` (`[N]`) and `class_ids` (`[N]`) become a
`Detections`; `text`, `circles` and `class_names` outputs are used when present. Class names come
from the answer (`parameters.class_names`, or a `class_names` output), else from `spec.class_names`.

`spec.options`: `remote_name`; `input_name` (default "image"); `<output>_output` to rename an output
(e.g. `boxes_output="detection_boxes"`; each defaults to its own name); `input_encoding` ("uint8", or
"png" to send one base64 PNG as a BYTES tensor, which labelbay's own v2 endpoint accepts);
`timeout_s` (default 30; a model slower than that is not asked again); `retries` (default 3) with
exponential backoff from `backoff_s` (default 0.5) on refused or dropped connections, 429 and 5xx
answers, never on other 4xx; `api_key_env` naming an environment variable that holds the API key
(sent as a Bearer token, which is how a remote labelbay is used), or `api_key` itself (programmatic
use; registry rows should not carry credentials). `spec.confidence_threshold` and `max_detections`
apply on top of whatever the server filtered. `check_endpoint` is for registration: a wrong URL,
name or key fails there, not at the first image.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import cv2
import httpx
import numpy as np
import numpy.typing as npt

from labelbay.inference.base import Model, ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections
from labelbay.outbound import OutboundGuard

# v2 tensor datatypes that can carry detection outputs, and the numpy type each reads into.
NUMPY_OF: dict[str, type[np.generic]] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
OUTPUTS = ("boxes", "scores", "class_ids", "text", "circles", "class_names")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0
# Model URLs are registered by administrators (`labelbay models add`), so they may be private; each
# request is still resolved once and sent to the address that was checked.
ADMIN_URLS = OutboundGuard(trusted=True)


def model_url(base_url: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/v2/models/{quote(name, safe='')}"


def check_endpoint(
    url: str,
    name: str,
    *,
    input_name: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """The model's v2 metadata; ModelError unless the server knows the model and says it is ready.

    With `input_name`, the metadata must also list an input of that name.
    """
    base = model_url(url, name)
    with ADMIN_URLS.client(headers=dict(headers or {}), timeout=timeout_s) as client:
        what = f"KServe model {name!r} at {url}"
        metadata = _json_of(_send(client, "GET", base, retries=0, backoff_s=0), what)
        ready = _send(client, "GET", f"{base}/ready", retries=0, backoff_s=0)
    if ready.status_code != 200 or _ready_flag(ready) is False:
        raise ModelError(f"{what} is not ready (HTTP {ready.status_code})")
    inputs = metadata.get("inputs")
    if input_name is not None and isinstance(inputs, list):
        names = [str(t.get("name")) for t in inputs if isinstance(t, dict)]
        if input_name not in names:
            raise ModelError(
                f"KServe model {name!r} has no input named {input_name!r} (inputs: {names})"
            )
    return metadata


def check_spec(spec: ModelSpec) -> dict[str, Any]:
    """`check_endpoint` with the URL, remote name, input name and key that `spec` would use."""
    if not spec.url:
        raise ModelError(f"KServe model {spec.name!r} has no url")
    return check_endpoint(
        spec.url,
        str(spec.options.get("remote_name") or spec.name),
        input_name=str(spec.options.get("input_name", "image")),
        headers=auth_headers(spec.options),
        timeout_s=_number(spec.options, "timeout_s", 30.0),
    )


def auth_headers(options: Mapping[str, Any]) -> dict[str, str]:
    """`Authorization: Bearer <key>` from `api_key` or the variable named by `api_key_env`."""
    key = options.get("api_key")
    env_name = options.get("api_key_env")
    if not key and env_name:
        key = os.environ.get(str(env_name))
        if not key:
            raise ModelError(f"environment variable {env_name} (the KServe API key) is not set")
    return {"Authorization": f"Bearer {key}"} if key else {}


class KServeModel(Model):
    """A detection model served elsewhere over the v2 protocol; one HTTP request per image."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        if not spec.url:
            raise ModelError(f"KServe model {spec.name!r} has no url")
        options = spec.options
        self.remote_name = str(options.get("remote_name") or spec.name)
        self.input_name = str(options.get("input_name", "image"))
        self.output_names = {name: str(options.get(f"{name}_output", name)) for name in OUTPUTS}
        self.encoding = str(options.get("input_encoding", "uint8"))
        if self.encoding not in ("uint8", "png"):
            raise ModelError(f"input_encoding must be 'uint8' or 'png', not {self.encoding!r}")
        self.timeout_s = _number(options, "timeout_s", 30.0)
        self.retries = int(_number(options, "retries", 3))
        self.backoff_s = _number(options, "backoff_s", 0.5)
        self.infer_url = f"{model_url(spec.url, self.remote_name)}/infer"
        self.client = ADMIN_URLS.client(headers=auth_headers(options), timeout=self.timeout_s)

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        bodies, meta = [], []
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ModelError(
                    f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}"
                )
            height, width = image.shape[:2]
            body = {"id": uuid.uuid4().hex, "inputs": [self._input_tensor(image)]}
            bodies.append(json.dumps(body, separators=(",", ":")).encode())
            meta.append({"size": (width, height)})
        return Prepared(inputs=bodies, meta=meta)

    def _input_tensor(self, image: RGBImage) -> dict[str, Any]:
        if self.encoding == "png":
            ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if not ok:
                raise ModelError("could not encode the image as PNG")
            data = base64.b64encode(png.tobytes()).decode("ascii")
            return {"name": self.input_name, "shape": [1], "datatype": "BYTES", "data": [data]}
        return {
            "name": self.input_name,
            "shape": [1, *image.shape],
            "datatype": "UINT8",
            "data": image.ravel().tolist(),
        }

    def forward(self, prepared: Prepared) -> list[dict[str, Any]]:
        what = f"KServe model {self.remote_name!r} at {self.spec.url}"
        return [
            _json_of(
                _send(
                    self.client,
                    "POST",
                    self.infer_url,
                    content=body,
                    retries=self.retries,
                    backoff_s=self.backoff_s,
                ),
                what,
            )
            for body in prepared.inputs
        ]

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        return [self._one(answer) for answer in outputs]

    def _one(self, answer: dict[str, Any]) -> Detections:
        tensors = _outputs_by_name(answer, self.remote_name)
        names = self.output_names

        def required(key: str) -> npt.NDArray[Any]:
            if names[key] not in tensors:
                raise ModelError(
                    f"KServe model {self.remote_name!r} answered without an output named "
                    f"{names[key]!r} (outputs: {', '.join(tensors) or 'none'})"
                )
            return _tensor(tensors[names[key]])

        boxes = _rows(required("boxes"), 4, names["boxes"]).astype(np.float32)
        count = len(boxes)
        scores = _vector(required("scores"), count, names["scores"]).astype(np.float32)
        class_ids = _vector(required("class_ids"), count, names["class_ids"]).astype(np.int64)
        text = circles = None
        if names["text"] in tensors:
            text = [str(t) for t in _vector(_tensor(tensors[names["text"]]), count, names["text"])]
        if names["circles"] in tensors:
            circles = _rows(_tensor(tensors[names["circles"]]), 3, names["circles"])
            if len(circles) != count:
                raise ModelError(
                    f"output {names['circles']!r} has {len(circles)} rows, not {count}"
                )
            # A labelbay server sends a row that is not a circle with radius 0 (older ones: null).
            circles = circles.astype(np.float32)
            circles[~(circles[:, 2] > 0)] = np.nan
        keep = np.flatnonzero(scores >= self.spec.confidence_threshold)
        if len(keep) > self.spec.max_detections:  # the best ones, in the order the server sent
            best = np.argsort(-scores[keep], kind="stable")[: self.spec.max_detections]
            keep = keep[np.sort(best)]
        return Detections.create(
            boxes[keep],
            scores[keep],
            class_ids[keep],
            class_names=self._class_names(answer, tensors),
            circles=None if circles is None else circles[keep],
            text=None if text is None else [text[i] for i in keep],
        )

    def _class_names(self, answer: dict[str, Any], tensors: dict[str, Any]) -> tuple[str, ...]:
        parameters = answer.get("parameters")
        names = parameters.get("class_names") if isinstance(parameters, dict) else None
        if names is None and self.output_names["class_names"] in tensors:
            names = _tensor(tensors[self.output_names["class_names"]]).ravel().tolist()
        if isinstance(names, list) and names:
            return tuple(str(n) for n in names)
        return self.spec.class_names

    def close(self) -> None:
        self.client.close()


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    retries: int,
    backoff_s: float,
) -> httpx.Response:
    """One request, repeated with backoff while the server is unreachable, busy or failing."""
    headers = {"Content-Type": "application/json"} if content is not None else None
    problem = ""
    for attempt in range(retries + 1):
        delay = backoff_s * 2**attempt
        try:
            response = client.request(method, url, content=content, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
            problem = f"cannot reach {url}: {str(exc) or type(exc).__name__}"
        except httpx.TimeoutException as exc:
            # A model slower than the timeout stays slower; asking again only multiplies the wait.
            timeout = client.timeout.read
            raise ModelError(f"{url} did not answer within {timeout}s") from exc
        except httpx.HTTPError as exc:
            raise ModelError(f"request to {url} failed: {exc}") from exc
        else:
            if response.status_code not in RETRY_STATUSES:
                return response
            problem = f"{url} answered HTTP {response.status_code}: {_error_text(response)}"
            delay = max(delay, _retry_after(response))
        if attempt < retries:
            time.sleep(delay)
    attempts = "1 attempt" if retries == 0 else f"{retries + 1} attempts"
    raise ModelError(f"{problem} (gave up after {attempts})")


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", 0)), MAX_RETRY_AFTER_S)
    except ValueError:  # an HTTP date; the backoff is good enough
        return 0.0


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _snippet(response.text) or "(empty body)"
    if isinstance(body, dict):
        for key in ("error", "detail"):  # v2 servers say "error"; FastAPI-style ones "detail"
            if key in body:
                return str(body[key])
    return _snippet(response.text)


def _json_of(response: httpx.Response, what: str) -> dict[str, Any]:
    status = response.status_code
    if status in (401, 403):
        raise ModelError(
            f"{what} refused the credentials (HTTP {status}: {_error_text(response)}); "
            "set the api_key or api_key_env option"
        )
    if status == 404:
        raise ModelError(f"{what} not found (HTTP 404: {_error_text(response)})")
    if status >= 400:
        raise ModelError(f"{what} answered HTTP {status}: {_error_text(response)}")
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise ModelError(
            f"{what} answered with a non-JSON body ({kind}): {_snippet(response.text)!r}"
        ) from None
    if not isinstance(body, dict):
        raise ModelError(f"{what} answered with JSON that is not an object")
    return body


def _ready_flag(response: httpx.Response) -> bool | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return bool(body["ready"]) if isinstance(body, dict) and "ready" in body else None


def _outputs_by_name(answer: dict[str, Any], model: str) -> dict[str, dict[str, Any]]:
    outputs = answer.get("outputs")
    if not isinstance(outputs, list):
        raise ModelError(f"KServe model {model!r} answered without an 'outputs' list")
    return {str(o.get("name")): o for o in outputs if isinstance(o, dict)}


def _tensor(output: dict[str, Any]) -> npt.NDArray[Any]:
    """A v2 JSON output tensor as an array of its declared shape."""
    name, datatype, shape = output.get("name"), output.get("datatype"), output.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ModelError(f"output {name!r} has no valid shape: {shape!r}")
    data = output.get("data")
    if not isinstance(data, list):
        raise ModelError(f"output {name!r} has no data list")
    try:
        if datatype == "BYTES":
            array = np.array(list(_flatten(data)), dtype=object)
        elif datatype in NUMPY_OF:
            # null stands for NaN (JSON has no NaN), e.g. a row without a circle.
            array = np.asarray(data, dtype=NUMPY_OF[datatype])
        else:
            raise ModelError(f"output {name!r} has unsupported datatype {datatype!r}")
    except (ValueError, TypeError, OverflowError) as exc:
        raise ModelError(f"output {name!r} data does not fit {datatype}: {exc}") from None
    if array.size != math.prod(shape):
        raise ModelError(
            f"output {name!r} has {array.size} values; its shape {shape} holds {math.prod(shape)}"
        )
    return array.reshape(shape)


def _flatten(data: list[Any]) -> Iterator[Any]:
    for item in data:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def _rows(array: npt.NDArray[Any], width: int, name: str) -> npt.NDArray[Any]:
    if array.ndim == 3 and array.shape[0] == 1:  # a batch of one
        array = array[0]
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, width)
    if array.ndim != 2 or array.shape[1] != width:
        raise ModelError(f"output {name!r} has shape {list(array.shape)}; expected [N, {width}]")
    return array


def _vector(array: npt.NDArray[Any], count: int, name: str) -> npt.NDArray[Any]:
    if array.ndim == 2 and array.shape[0] == 1:  # a batch of one
        array = array[0]
    if array.shape != (count,):
        raise ModelError(f"output {name!r} has shape {list(array.shape)}; expected [{count}]")
    return array


def _number(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"option {key} must be a number, not {value!r}") from None
    if number < 0 or math.isnan(number):
        raise ModelError(f"option {key} must not be negative")
    return number


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}..."
