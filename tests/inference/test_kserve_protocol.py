"""KServe v2 / Open Inference Protocol conformance, judged by the official `kserve` SDK.

The SDK's REST client runs inference against a live labelbay (uvicorn on 127.0.0.1) through the
binary tensor data extension and through plain JSON, and both must give the built-in `circles`
model's own detections. Server metadata, versioned model routes, malformed binary bodies and the
`{"error": ...}` shape of every error under `/v2` are checked here too.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, InferResponse, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from skimage import data as skdata

from labelbay import __version__
from labelbay.api.routes.kserve import output_tensors
from labelbay.db.session import transaction
from labelbay.inference.base import Model, RGBImage
from labelbay.inference.builtin import load_builtin
from labelbay.inference.detections import Detections
from labelbay.services.models import register_model
from labelbay.services.users import create_api_key, create_user
from tests.support.fixed_model import FixedModel  # noqa: F401 - registers the test format
from tests.support.stack import PASSWORD, LiveServer, Stack

HEADER = "Inference-Header-Content-Length"


@pytest.fixture
def stack_urls(sqlite_url: str, tmp_path: Path) -> tuple[str, str, str]:
    """Only the embedded stack: inference touches neither PostgreSQL nor S3."""
    return "embedded", sqlite_url, f"file://{tmp_path}/objects"


@pytest.fixture(scope="module")
def circles() -> Model:
    model: Model = load_builtin("circles")
    return model


@pytest.fixture(scope="module")
def coins() -> RGBImage:
    gray = np.asarray(skdata.coins(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    return np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), dtype=np.uint8)


@pytest.fixture
def auth(stack: Stack) -> dict[str, str]:
    """An API key's header, as a remote client would send it."""
    with transaction(stack.context.sessions) as session:
        user = create_user(session, email="sdk@example.com", password=PASSWORD)
        _row, key = create_api_key(session, user=user, name="kserve sdk")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def shapes(stack: Stack, tmp_path: Path) -> Stack:
    """A model `shapes` with two versions that answer differently: 1 boxes, 2 (active) circles."""
    artifact = tmp_path / "fixed.bin"
    artifact.write_bytes(b"fixed")
    with transaction(stack.context.sessions) as session:
        for version, kind in (("1", "boxes"), ("2", "circles")):
            register_model(
                session,
                store=stack.context.storage.models,
                name="shapes",
                version=version,
                format="test-fixed",
                file=artifact,
                class_names=["shape"],
                options={"kind": kind},
            )
    return stack


def sdk_infer(
    base_url: str, request: InferRequest, headers: dict[str, str]
) -> tuple[InferResponse, dict[str, str]]:
    """One inference through the SDK's REST client; the answer and its HTTP headers."""

    async def call() -> tuple[InferResponse, dict[str, str]]:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=120))
        answered: dict[str, str] = {}
        try:
            result = await client.infer(
                base_url,
                request,
                model_name=request.model_name,
                headers=dict(headers),
                response_headers=answered,
            )
        finally:
            await client.close()
        assert isinstance(result, InferResponse)
        return result, answered

    return asyncio.run(call())


def pixels_request(
    model_name: str, image: RGBImage, *, binary: bool, **options: Any
) -> InferRequest:
    tensor = InferInput("image", [1, *image.shape], "UINT8")
    tensor.set_data_from_numpy(image[np.newaxis], binary_data=binary)
    return InferRequest(model_name=model_name, infer_inputs=[tensor], **options)


def as_detections(response: InferResponse) -> Detections:
    tensors = {o.name: o.as_numpy() for o in response.outputs}
    return Detections.create(
        tensors["boxes"],
        tensors["scores"],
        tensors["class_ids"],
        circles=tensors.get("circles"),
    )


def assert_same(got: Detections, want: Detections) -> None:
    np.testing.assert_array_equal(got.xyxy, want.xyxy)
    np.testing.assert_array_equal(got.confidence, want.confidence)
    np.testing.assert_array_equal(got.class_id, want.class_id)
    assert got.circles is not None
    assert want.circles is not None
    np.testing.assert_array_equal(got.circles, want.circles)


# -- the SDK against a live labelbay -----------------------------------------------------------------


def test_sdk_binary_and_json_give_the_same_detections(
    live_server: LiveServer, auth: dict[str, str], circles: Model, coins: RGBImage
) -> None:
    local = circles.predict([coins])[0]
    assert len(local) >= 20, "the model should find the coins"
    url = live_server.base_url

    as_json, json_headers = sdk_infer(url, pixels_request("circles", coins, binary=False), auth)
    assert HEADER.lower() not in {k.lower() for k in json_headers}

    # Binary in, binary out for every output (the request's `binary_data_output`).
    request = pixels_request("circles", coins, binary=True, parameters={"binary_data_output": True})
    assert request.inputs[0].parameters == {"binary_data_size": coins.size}
    as_binary, binary_headers = sdk_infer(url, request, auth)
    assert int(binary_headers[HEADER.lower()]) > 0
    assert binary_headers["content-type"] == "application/octet-stream"
    assert {o.name for o in as_binary.outputs} == {"boxes", "scores", "class_ids", "circles"}

    assert_same(as_detections(as_json), local)
    assert_same(as_detections(as_binary), local)
    assert as_binary.outputs[0].as_numpy().dtype == np.float32


def test_sdk_binary_input_with_some_outputs_binary(
    live_server: LiveServer, auth: dict[str, str], circles: Model, coins: RGBImage
) -> None:
    """`binary_data` per output: scores as binary, boxes as JSON, nothing else sent."""
    outputs = [
        RequestedOutput("scores", parameters={"binary_data": True}),
        RequestedOutput("boxes", parameters={"binary_data": False}),
    ]
    request = pixels_request("circles", coins, binary=True, request_outputs=outputs)
    response, headers = sdk_infer(live_server.base_url, request, auth)
    local = circles.predict([coins])[0]
    by_name = {o.name: o for o in response.outputs}
    assert sorted(by_name) == ["boxes", "scores"]
    np.testing.assert_array_equal(by_name["scores"].as_numpy(), local.confidence)
    np.testing.assert_array_equal(by_name["boxes"].as_numpy(), local.xyxy)
    # The scores' FP32 bytes, and nothing else, follow the JSON.
    assert int(headers[HEADER.lower()]) + 4 * len(local) == int(headers["content-length"])


def test_sdk_binary_png_bytes(
    live_server: LiveServer, auth: dict[str, str], circles: Model, coins: RGBImage
) -> None:
    """A BYTES input as binary data holds the file itself (no base64); PNG is lossless."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(coins, cv2.COLOR_RGB2BGR))
    assert ok
    tensor = InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([png.tobytes()], dtype=object), binary_data=True)
    request = InferRequest(
        model_name="circles", infer_inputs=[tensor], parameters={"binary_data_output": True}
    )
    response, _ = sdk_infer(live_server.base_url, request, auth)
    assert_same(as_detections(response), circles.predict([coins])[0])


def test_sdk_health_and_readiness(live_server: LiveServer, auth: dict[str, str]) -> None:
    async def call() -> tuple[bool, bool, bool, bool]:
        client = InferenceRESTClient(RESTConfig(protocol="v2"))
        url = live_server.base_url
        try:
            return (
                await client.is_server_live(url),
                await client.is_server_ready(url),
                await client.is_model_ready(url, "circles", headers=auth),
                await client.is_model_ready(url, "no-such-model", headers=auth),
            )
        finally:
            await client.close()

    assert asyncio.run(call()) == (True, True, True, False)


def test_sdk_versioned_inference(
    live_server: LiveServer, shapes: Stack, auth: dict[str, str], coins: RGBImage
) -> None:
    """The SDK names a version through the model path; each version answers with its own model."""
    url = live_server.base_url
    one, _ = sdk_infer(url, pixels_request("shapes/versions/1", coins, binary=True), auth)
    two, _ = sdk_infer(url, pixels_request("shapes/versions/2", coins, binary=True), auth)
    active, _ = sdk_infer(url, pixels_request("shapes", coins, binary=True), auth)
    assert {o.name for o in one.outputs} == {"boxes", "scores", "class_ids"}
    np.testing.assert_array_equal(one.outputs[0].as_numpy(), [[2, 3, 12, 9]])
    assert {o.name for o in two.outputs} == {"boxes", "scores", "class_ids", "circles"}
    circles_out = {o.name: o for o in two.outputs}["circles"]
    np.testing.assert_array_equal(circles_out.as_numpy(), [[7, 5, 3]])
    assert [o.as_numpy().tolist() for o in active.outputs] == [
        o.as_numpy().tolist() for o in two.outputs
    ]


# -- metadata and versioned routes -------------------------------------------------------------------


def test_server_metadata_is_open(stack: Stack) -> None:
    answer = stack.client.get("/v2")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "name": "labelbay",
        "version": __version__,
        "extensions": ["binary_tensor_data"],
    }


def test_versioned_metadata_and_ready(shapes: Stack) -> None:
    headers = shapes.quick_user("versions@example.com")
    client = shapes.client
    active = client.get("/v2/models/shapes", headers=headers).json()
    assert active["versions"] == ["1", "2"]
    assert active["parameters"]["version"] == "2"
    one = client.get("/v2/models/shapes/versions/1", headers=headers)
    assert one.status_code == 200, one.text
    assert one.json()["name"] == "shapes"
    assert one.json()["parameters"]["version"] == "1"
    assert one.json()["versions"] == ["1", "2"]
    ready = client.get("/v2/models/shapes/versions/1/ready", headers=headers)
    assert ready.json() == {"name": "shapes", "ready": True}
    # A built-in model has a version too (its registry row is made on first use).
    builtin = client.get("/v2/models/circles", headers=headers).json()
    version = builtin["parameters"]["version"]
    answer = client.get(f"/v2/models/circles/versions/{version}", headers=headers)
    assert answer.status_code == 200, answer.text


def test_versioned_infer_answers_with_its_version(shapes: Stack, coins: RGBImage) -> None:
    headers = shapes.quick_user("infer-version@example.com")
    body = {
        "inputs": [
            {
                "name": "image",
                "shape": [1, *coins.shape],
                "datatype": "UINT8",
                "data": coins.ravel().tolist(),
            }
        ]
    }
    answer = shapes.client.post("/v2/models/shapes/versions/1/infer", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == "1"
    assert answer.json()["model_name"] == "shapes"
    answer = shapes.client.post("/v2/models/shapes/infer", json=body, headers=headers)
    assert answer.json()["model_version"] == "2"


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v2/models/shapes/versions/9", "model shapes: no version 9"),
        ("GET", "/v2/models/shapes/versions/9/ready", "model shapes: no version 9"),
        ("POST", "/v2/models/shapes/versions/9/infer", "model shapes: no version 9"),
        ("GET", "/v2/models/nope/versions/1", "model nope: no version 1"),
    ],
)
def test_unknown_version_is_a_404(shapes: Stack, method: str, path: str, message: str) -> None:
    headers = shapes.quick_user("unknown-version@example.com")
    answer = shapes.client.request(method, path, headers=headers, json={"inputs": []})
    assert answer.status_code == 404, answer.text
    assert answer.json() == {"error": message}


# -- binary bodies that do not add up ----------------------------------------------------------------

TINY = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(1, 2, 3, 3)


def binary_body(
    pixels: bytes, *, size: int | None = None, shape: list[int] | None = None
) -> tuple[bytes, int]:
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": shape or list(TINY.shape),
                "datatype": "UINT8",
                "parameters": {"binary_data_size": len(pixels) if size is None else size},
            }
        ]
    }
    text = json.dumps(header).encode()
    return text + pixels, len(text)


def post_binary(stack: Stack, body: bytes, header_length: str | None) -> httpx.Response:
    headers = {**stack.quick_user("binary@example.com"), "Content-Type": "application/octet-stream"}
    if header_length is not None:
        headers[HEADER] = header_length
    response: httpx.Response = stack.client.post(
        "/v2/models/circles/infer", content=body, headers=headers
    )
    return response


def test_a_good_binary_body_is_answered(stack: Stack) -> None:
    body, length = binary_body(TINY.tobytes())
    answer = post_binary(stack, body, str(length))
    assert answer.status_code == 200, answer.text
    assert HEADER not in answer.headers  # no output asked for as binary: plain JSON
    assert answer.json()["outputs"][0]["name"] == "boxes"


PIXELS = TINY.tobytes()
BODY, LENGTH = binary_body(PIXELS)
SHORT, SHORT_LENGTH = binary_body(PIXELS[:-4], size=14)
NEGATIVE, NEGATIVE_LENGTH = binary_body(PIXELS, size=-1)
WIDER, WIDER_LENGTH = binary_body(PIXELS, shape=[1, 3, 3, 3])


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (BODY, str(LENGTH + 5), "malformed request"),  # the JSON cut in the wrong place
        (BODY, str(LENGTH - 3), "malformed request"),
        (BODY, str(len(BODY) + 1), f"is {len(BODY) + 1}, but the body has {len(BODY)} bytes"),
        (BODY, "0", "it must be the length of the JSON header"),
        (BODY, "ten", "must be a byte count"),
        (BODY, None, "malformed request"),  # binary bytes without the header: not JSON
        (BODY[:-4], str(LENGTH), "add up to 18 bytes, but 14 bytes follow"),
        (BODY + b"xx", str(LENGTH), "add up to 18 bytes, but 20 bytes follow"),
        (SHORT, str(SHORT_LENGTH), "has 14 bytes; UINT8 [1, 2, 3, 3] needs 18"),
        (NEGATIVE, str(NEGATIVE_LENGTH), "binary_data_size must be a byte count, not -1"),
        (WIDER, str(WIDER_LENGTH), "has 18 bytes; UINT8 [1, 3, 3, 3] needs 27"),
    ],
)
def test_malformed_binary_bodies_are_400(
    stack: Stack, body: bytes, header_length: str | None, message: str
) -> None:
    answer = post_binary(stack, body, header_length)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error"}
    assert message in answer.json()["error"]


def test_data_both_in_json_and_binary_is_400(stack: Stack) -> None:
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": list(TINY.shape),
                "datatype": "UINT8",
                "data": TINY.ravel().tolist(),
                "parameters": {"binary_data_size": TINY.size},
            }
        ]
    }
    text = json.dumps(header).encode()
    answer = post_binary(stack, text + PIXELS, str(len(text)))
    assert answer.status_code == 400
    assert "not both" in answer.json()["error"]


def test_cut_bytes_element_is_400(stack: Stack) -> None:
    element = struct.pack("<I", 100) + b"\x89PNG"
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(element)},
            }
        ]
    }
    text = json.dumps(header).encode()
    answer = post_binary(stack, text + element, str(len(text)))
    assert answer.status_code == 400
    assert "says 100 bytes, 4 remain" in answer.json()["error"]


def test_bad_binary_flags_are_400(stack: Stack) -> None:
    headers = stack.quick_user("flags@example.com")
    body = {
        "inputs": [{"name": "image", "shape": [1, 2, 3, 3], "datatype": "UINT8", "data": [1] * 18}],
        "parameters": {"binary_data_output": "yes"},
    }
    answer = stack.client.post("/v2/models/circles/infer", json=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "parameter binary_data_output must be true or false, not 'yes'"
    }


# -- errors under /v2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/nothing-here", 404),
        ("GET", "/v2/models/circles/infer/more", 404),
        ("GET", "/v2/models/circles/infer", 405),
        ("DELETE", "/v2/models/circles", 405),
        ("POST", "/v2/health/live", 405),
        ("PUT", "/v2", 405),
    ],
)
def test_every_error_under_v2_is_an_error_object(
    stack: Stack, method: str, path: str, status: int
) -> None:
    headers = stack.quick_user("errors@example.com")
    answer = stack.client.request(method, path, headers=headers)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"}
    assert answer.json()["error"]


def test_errors_elsewhere_keep_their_shape(stack: Stack) -> None:
    answer = stack.client.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert set(answer.json()) == {"detail"}


def test_oversize_declared_body_under_v2_is_an_error_object(live_server: LiveServer) -> None:
    """The body limit answers before any route (and before sign-in): still the v2 shape."""
    host, port = live_server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v2/models/circles/infer HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 99999999999999\r\n\r\n"
        )
        answer = b""
        while piece := sock.recv(4096):
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert set(json.loads(body)) == {"error"}


# -- no null in FP32 ---------------------------------------------------------------------------------


def test_fp32_outputs_hold_no_null() -> None:
    """Rows that mix circles, boxes and text lines, with a NaN score and an infinite box among
    them: every FP32 value goes out as a number; the broken rows are dropped (as they are when
    labels are stored), a row that is not a circle is `[0, 0, 0]` in `circles`."""
    mixed = Detections.merge(
        [
            Detections.create([[0, 0, 2, 2]], [0.5], [1], text=["STOP"]),
            Detections.create([[1, 1, 3, 3]], [0.4], [0], circles=[[2, 2, 1]]),
            Detections.create([[1, 1, 3, 3]], [float("nan")], [0]),
            Detections.create([[1, 1, float("inf"), 3]], [0.3], [0]),
        ]
    )
    outputs = {o["name"]: o for o in output_tensors(mixed, None)}
    assert json.loads(json.dumps(outputs, allow_nan=False)) == outputs
    for output in outputs.values():
        if output["datatype"] == "FP32":
            assert all(isinstance(v, float) for v in output["data"]), output
    assert outputs["boxes"]["data"] == [0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0]
    assert outputs["scores"]["shape"] == [2]
    assert outputs["circles"] == {
        "name": "circles",
        "datatype": "FP32",
        "shape": [2, 3],
        "data": [0.0, 0.0, 0.0, 2.0, 2.0, 1.0],
    }
    assert outputs["text"]["data"] == ["STOP", ""]


def test_circles_asked_of_a_model_without_circles_are_zeros(shapes: Stack, coins: RGBImage) -> None:
    headers = shapes.quick_user("zeros@example.com")
    body = {
        "inputs": [
            {
                "name": "image",
                "shape": [1, *coins.shape],
                "datatype": "UINT8",
                "data": coins.ravel().tolist(),
            }
        ],
        "outputs": [{"name": "circles"}, {"name": "scores"}],
    }
    answer = shapes.client.post("/v2/models/shapes/versions/1/infer", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    assert outputs["circles"]["data"] == [0.0, 0.0, 0.0]
    assert outputs["scores"]["data"] == [pytest.approx(0.8)]
