"""KServe v2: labelbay serving its models, and the `kserve` adapter against a real labelbay server.

The server side runs on the embedded stack (SQLite + local folder); inference does not touch the
database or object storage beyond sign-in. Adapter failure modes use a tiny scripted HTTP server.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data as skdata
from sqlalchemy import select

from labelbay.api.routes.kserve import output_tensors
from labelbay.db.models import ModelVersion
from labelbay.db.session import transaction
from labelbay.inference.base import Model, ModelError, ModelSpec, RGBImage
from labelbay.inference.builtin import load_builtin
from labelbay.inference.detections import Detections
from labelbay.inference.kserve import KServeModel, check_endpoint, check_spec
from labelbay.inference.registry import load_model
from labelbay.services.users import create_api_key, create_user
from tests.jobs.helpers import register_yolo
from tests.support.stack import PASSWORD, LiveServer, Stack

MAX_PIXELS = 400_000


@pytest.fixture
def stack_urls(sqlite_url: str, tmp_path: Path) -> tuple[str, str, str]:
    """Only the embedded stack: inference touches neither PostgreSQL nor S3."""
    return "embedded", sqlite_url, f"file://{tmp_path}/objects"


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {"max_image_pixels": MAX_PIXELS}


# -- served models ----------------------------------------------------------------------------------
# The v2 routes serve the app's own model source (`context.models`): the built-in `circles`, and a
# registered model whose stored artifact was replaced after registration (its SHA-256 no longer
# matches), to see a load failure answered as a 500.


@pytest.fixture(scope="module")
def circles() -> Model:
    """The built-in `circles`, loaded here the way the server loads it, to compare answers."""
    model: Model = load_builtin("circles")
    return model


@pytest.fixture
def served(stack: Stack) -> Stack:
    register_yolo(stack, name="broken")
    with stack.context.sessions() as session:
        key = session.scalars(select(ModelVersion.artifact_key).filter_by(name="broken")).one()
    assert key is not None
    stack.context.storage.models.put(key, b"someone else's bytes")
    return stack


@pytest.fixture
def headers(served: Stack) -> dict[str, str]:
    return served.user("kserve@example.com")


@pytest.fixture
def api_key(served: Stack) -> str:
    with transaction(served.context.sessions) as session:
        user = create_user(session, email="remote@example.com", password=PASSWORD)
        _row, key = create_api_key(session, user=user, name="remote labelbay")
    return key


@pytest.fixture
def live(live_server: LiveServer, served: Stack) -> LiveServer:
    return live_server


@pytest.fixture(scope="module")
def coins() -> RGBImage:
    gray = np.asarray(skdata.coins(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    return np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), dtype=np.uint8)


def tensor_body(image: RGBImage, **changes: Any) -> dict[str, Any]:
    tensor = {
        "name": "image",
        "shape": [1, *image.shape],
        "datatype": "UINT8",
        "data": image.ravel().tolist(),
    }
    return {"inputs": [{**tensor, **changes}]}


def remote(url: str, **options: Any) -> KServeModel:
    spec_fields = {
        k: options.pop(k)
        for k in ("confidence_threshold", "max_detections", "class_names")
        if k in options
    }
    spec = ModelSpec(
        name="circles",
        format="kserve",
        url=url,
        **spec_fields,
        options={"backoff_s": 0.01, **options},
    )
    model = load_model(spec)
    assert isinstance(model, KServeModel)
    return model


def assert_same(got: Detections, want: Detections) -> None:
    np.testing.assert_array_equal(got.xyxy, want.xyxy)
    np.testing.assert_array_equal(got.confidence, want.confidence)
    np.testing.assert_array_equal(got.class_id, want.class_id)
    assert got.class_names == want.class_names
    if want.circles is not None:
        assert got.circles is not None
        np.testing.assert_array_equal(got.circles, want.circles)
    assert got.text == want.text


# -- the adapter against a live labelbay -------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["uint8", "png"])
def test_remote_result_equals_local(
    live: LiveServer, circles: Model, api_key: str, coins: RGBImage, encoding: str
) -> None:
    local = circles.predict([coins])[0]
    assert len(local) >= 20, "the model should find the coins"
    model = remote(
        live.base_url, api_key=api_key, confidence_threshold=0.0, input_encoding=encoding
    )
    try:
        results = model.predict([coins, coins[:150, :200].copy()])
        assert_same(results[0], local)
        assert_same(results[1], circles.predict([coins[:150, :200].copy()])[0])
    finally:
        model.close()


def test_remote_applies_threshold_and_max_detections(
    live: LiveServer, circles: Model, api_key: str, coins: RGBImage
) -> None:
    local = circles.predict([coins])[0]
    threshold = float(np.median(local.confidence))
    model = remote(live.base_url, api_key=api_key, confidence_threshold=threshold, max_detections=5)
    got = model.predict([coins])[0]
    model.close()
    kept = np.flatnonzero(local.confidence >= threshold)
    best = np.sort(kept[np.argsort(-local.confidence[kept], kind="stable")[:5]])
    assert_same(got, local[best])


def test_api_key_from_environment(
    live: LiveServer,
    api_key: str,
    coins: RGBImage,
    circles: Model,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REMOTE_LABELBAY_KEY", api_key)
    model = remote(live.base_url, api_key_env="REMOTE_LABELBAY_KEY", confidence_threshold=0.0)
    assert_same(model.predict([coins])[0], circles.predict([coins])[0])
    model.close()
    monkeypatch.delenv("REMOTE_LABELBAY_KEY")
    with pytest.raises(ModelError, match="REMOTE_LABELBAY_KEY"):
        remote(live.base_url, api_key_env="REMOTE_LABELBAY_KEY")


def test_adapter_without_credentials_gets_a_clear_error(live: LiveServer, coins: RGBImage) -> None:
    model = remote(live.base_url)
    with pytest.raises(ModelError, match=r"refused the credentials \(HTTP 401"):
        model.predict([coins])
    model.close()


def test_check_endpoint(live: LiveServer, api_key: str) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    metadata = check_endpoint(live.base_url, "circles", input_name="image", headers=auth)
    assert metadata["platform"] == "labelbay"
    assert check_spec(
        ModelSpec("circles", "kserve", url=live.base_url, options={"api_key": api_key})
    )
    with pytest.raises(ModelError, match="not found"):
        check_endpoint(live.base_url, "nope", headers=auth)
    with pytest.raises(ModelError, match="no input named 'pixels'"):
        check_endpoint(live.base_url, "circles", input_name="pixels", headers=auth)
    with pytest.raises(ModelError, match="credentials"):
        check_endpoint(live.base_url, "circles")
    with pytest.raises(ModelError, match="cannot reach"):
        check_endpoint(f"http://127.0.0.1:{closed_port()}", "circles", headers=auth)


# -- the v2 routes -----------------------------------------------------------------------------------


def test_health_and_ready(served: Stack, headers: dict[str, str]) -> None:
    client = served.client
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/circles/ready", headers=headers).json() == {
        "name": "circles",
        "ready": True,
    }
    answer = client.get("/v2/models/nope/ready", headers=headers)
    assert answer.status_code == 404
    assert "nope" in answer.json()["error"]


def test_metadata(served: Stack, headers: dict[str, str]) -> None:
    answer = served.client.get("/v2/models/circles", headers=headers)
    assert answer.status_code == 200, answer.text
    metadata = answer.json()
    assert metadata["name"] == "circles"
    assert metadata["platform"] == "labelbay"
    assert metadata["versions"]
    assert metadata["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [1, -1, -1, 3]}]
    outputs = {o["name"]: (o["datatype"], o["shape"]) for o in metadata["outputs"]}
    assert outputs["boxes"] == ("FP32", [-1, 4])
    assert outputs["scores"] == ("FP32", [-1])
    assert outputs["class_ids"] == ("INT64", [-1])
    assert outputs["text"] == ("BYTES", [-1])


def test_infer_answer(
    served: Stack, headers: dict[str, str], coins: RGBImage, circles: Model
) -> None:
    body = {**tensor_body(coins), "id": "request-7"}
    answer = served.client.post("/v2/models/circles/infer", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["model_name"] == "circles"
    assert result["id"] == "request-7"
    outputs = {o["name"]: o for o in result["outputs"]}
    count = outputs["scores"]["shape"][0]
    assert count == len(circles.predict([coins])[0]) >= 20
    assert outputs["boxes"]["shape"] == [count, 4]
    assert len(outputs["boxes"]["data"]) == count * 4
    assert outputs["class_ids"]["datatype"] == "INT64"
    assert result["parameters"]["class_names"]

    # Nested data, and only the outputs asked for.
    nested = {**tensor_body(coins, data=coins.tolist()), "outputs": [{"name": "scores"}]}
    answer = served.client.post("/v2/models/circles/infer", json=nested, headers=headers)
    assert answer.status_code == 200, answer.text
    assert [o["name"] for o in answer.json()["outputs"]] == ["scores"]
    assert answer.json()["outputs"][0] == outputs["scores"]


@pytest.mark.parametrize("fmt", [".png", ".jpg"])
def test_infer_accepts_a_base64_image(
    served: Stack, headers: dict[str, str], coins: RGBImage, fmt: str
) -> None:
    ok, encoded = cv2.imencode(fmt, cv2.cvtColor(coins, cv2.COLOR_RGB2BGR))
    assert ok
    body = {
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64.b64encode(encoded.tobytes()).decode()],
            }
        ]
    }
    answer = served.client.post("/v2/models/circles/infer", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    if fmt == ".png":  # lossless: the same answer as the pixels themselves
        pixels = served.client.post(
            "/v2/models/circles/infer", json=tensor_body(coins), headers=headers
        )
        assert answer.json()["outputs"] == pixels.json()["outputs"]


TINY = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
PNG_BASE64 = base64.b64encode(cv2.imencode(".png", TINY)[1].tobytes()).decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datatype": "FP32"}, "must be UINT8"),
        ({"data": TINY.ravel().tolist()[:-1]}, "has 17 values; shape"),
        ({"shape": [2, 1, 3, 3]}, "must be"),
        ({"shape": [1, 2, 3, 4]}, "must be"),
        ({"shape": [1, 0, 3, 3], "data": []}, "H, W >= 1"),
        ({"shape": [1, 1000, 1000, 3]}, "over this server's limit"),
        ({"data": [300] * 18}, "from 0 to 255"),
        ({"data": [0.5] * 18}, "from 0 to 255"),
        ({"data": ["a"] * 18}, "from 0 to 255"),
        ({"data": [[1, 2], [3]]}, "not a regular array"),
        ({"name": "pixels"}, "one input named 'image'"),
        ({"datatype": "BYTES", "shape": [1], "data": ["%%%"]}, "not valid base64"),
        (
            {"datatype": "BYTES", "shape": [1], "data": [base64.b64encode(b"text").decode()]},
            "not a readable image",
        ),
        (
            {"datatype": "BYTES", "shape": [2], "data": [PNG_BASE64, PNG_BASE64]},
            "one base64 string",
        ),
        ({"shape": "wide"}, "malformed request: inputs.0.shape"),
    ],
)
def test_bad_requests(
    served: Stack, headers: dict[str, str], changes: dict[str, Any], message: str
) -> None:
    answer = served.client.post(
        "/v2/models/circles/infer", json=tensor_body(TINY, **changes), headers=headers
    )
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": []}, "malformed request"),
        ({}, "malformed request: inputs"),
        ("{not json", "malformed request: Invalid JSON"),
        ({**tensor_body(TINY), "outputs": [{"name": "masks"}]}, "unknown outputs ['masks']"),
    ],
)
def test_bad_request_bodies(
    served: Stack, headers: dict[str, str], body: Any, message: str
) -> None:
    if isinstance(body, str):
        answer = served.client.post("/v2/models/circles/infer", content=body, headers=headers)
    else:
        answer = served.client.post("/v2/models/circles/infer", json=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


def test_a_body_larger_than_any_allowed_image_is_refused(
    served: Stack, headers: dict[str, str]
) -> None:
    body = b" " * (MAX_PIXELS * 18 + 1_000_001)
    answer = served.client.post(
        "/v2/models/circles/infer",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert "request body is over" in answer.json()["error"]


def test_unknown_model_and_failing_model(served: Stack, headers: dict[str, str]) -> None:
    answer = served.client.post("/v2/models/nope/infer", json=tensor_body(TINY), headers=headers)
    assert answer.status_code == 404
    assert answer.json()["error"] == "model nope: no active version"
    answer = served.client.post("/v2/models/broken/infer", json=tensor_body(TINY), headers=headers)
    assert answer.status_code == 500
    assert answer.json()["error"].startswith("model 'broken' cannot be loaded: ")
    assert "does not match its SHA-256" in answer.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/circles"),
        ("GET", "/v2/models/circles/ready"),
        ("POST", "/v2/models/circles/infer"),
        ("GET", "/v2/models/nope"),
    ],
)
def test_model_endpoints_need_sign_in(served: Stack, method: str, path: str) -> None:
    answer = served.client.request(method, path, json=tensor_body(TINY))
    assert answer.status_code == 401
    assert "not signed in" in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_text_and_missing_circles_rows_go_out_as_v2_tensors() -> None:
    with_text = Detections.create([[0, 0, 2, 2]], [0.5], [1], text=["STOP"])
    merged = Detections.merge(
        [with_text, Detections.create([[1, 1, 3, 3]], [0.4], [0], circles=[[2, 2, 1]])]
    )
    tensors = {t["name"]: t for t in output_tensors(merged, None)}
    assert tensors["text"] == {
        "name": "text",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["STOP", ""],
    }
    # A row that is not a circle has radius 0: FP32 holds no null (JSON has no NaN).
    assert tensors["circles"]["data"] == [0.0, 0.0, 0.0, 2.0, 2.0, 1.0]
    json.dumps(tensors, allow_nan=False)


# -- the adapter's failure modes, against a scripted server ------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    delay_s: float = 0.0


def detections_answer(**overrides: Any) -> dict[str, Any]:
    outputs = {
        "boxes": {
            "name": "boxes",
            "datatype": "FP32",
            "shape": [1, 2, 4],
            "data": [[[1, 2, 3, 4], [5, 6, 7, 8]]],
        },
        "scores": {"name": "scores", "datatype": "FP32", "shape": [2], "data": [0.3, 0.9]},
        "class_ids": {"name": "class_ids", "datatype": "INT64", "shape": [2], "data": [1, 0]},
        "text": {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]},
    }
    for name, value in overrides.items():
        if value is None:
            outputs.pop(name)
        else:
            outputs[name] = {**outputs.get(name, {"name": name}), **value}
    return {"model_name": "circles", "id": "x", "outputs": list(outputs.values())}


@dataclass
class ScriptedServer:
    """HTTP on 127.0.0.1 answering from a script (the last reply repeats); it records requests."""

    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        script = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else b""
                script.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                reply = script.replies[min(len(script.requests), len(script.replies)) - 1]
                if reply.delay_s and script.stop.wait(reply.delay_s):
                    return
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header(
                    "Content-Type",
                    "text/plain" if isinstance(reply.body, bytes) else "application/json",
                )
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the timeout test) closes the socket under us

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[list[ScriptedServer]]:
    servers: list[ScriptedServer] = []
    yield servers
    for server in servers:
        server.close()


def script(servers: list[ScriptedServer], *replies: Reply) -> ScriptedServer:
    server = ScriptedServer(list(replies))
    servers.append(server)
    return server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_after_retries() -> None:
    model = remote(f"http://127.0.0.1:{closed_port()}", retries=2)
    with pytest.raises(ModelError, match=r"cannot reach .*refused.*gave up after 3 attempts"):
        model.predict([TINY])
    model.close()


def test_timeout(scripted: list[ScriptedServer]) -> None:
    server = script(scripted, Reply(body=detections_answer(), delay_s=5))
    model = remote(server.url, timeout_s=0.2)
    with pytest.raises(ModelError, match=r"did not answer within 0.2s"):
        model.predict([TINY])
    model.close()
    assert len(server.requests) == 1, "a read timeout is not retried"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_busy_or_failing_server_is_retried(scripted: list[ScriptedServer], status: int) -> None:
    server = script(
        scripted, Reply(status, {"error": "warming up"}), Reply(body=detections_answer())
    )
    model = remote(server.url)
    (result,) = model.predict([TINY])
    model.close()
    assert len(server.requests) == 2
    assert len(result) == 2


def test_gives_up_on_a_failing_server(scripted: list[ScriptedServer]) -> None:
    server = script(scripted, Reply(500, {"error": "out of memory"}))
    model = remote(server.url, retries=2)
    with pytest.raises(ModelError, match=r"HTTP 500: out of memory \(gave up after 3 attempts\)"):
        model.predict([TINY])
    model.close()
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(scripted: list[ScriptedServer]) -> None:
    server = script(scripted, Reply(400, {"error": "input shape must be [1, H, W, 3]"}))
    model = remote(server.url)
    with pytest.raises(ModelError, match=r"HTTP 400: input shape must be"):
        model.predict([TINY])
    model.close()
    assert len(server.requests) == 1


def test_request_format_and_answer_parsing(
    scripted: list[ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = detections_answer(
        class_names={"datatype": "BYTES", "shape": [2], "data": ["cat", "dog"]}
    )
    server = script(scripted, Reply(body=answer))
    monkeypatch.setenv("KEY_FOR_TEST", "lb_secret")
    model = remote(server.url, api_key_env="KEY_FOR_TEST", remote_name="coins v2")
    (result,) = model.predict([TINY])
    model.close()
    request = server.requests[0]
    assert request["path"] == "/v2/models/coins%20v2/infer"
    assert request["headers"]["Authorization"] == "Bearer lb_secret"
    (tensor,) = json.loads(request["body"])["inputs"]
    assert tensor == {
        "name": "image",
        "shape": [1, 2, 3, 3],
        "datatype": "UINT8",
        "data": TINY.ravel().tolist(),
    }
    np.testing.assert_array_equal(result.xyxy, [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(result.confidence, np.array([0.3, 0.9], dtype=np.float32))
    assert result.class_names == ("cat", "dog")
    assert result.text == ("a", "b")


def test_custom_output_names_and_spec_class_names(scripted: list[ScriptedServer]) -> None:
    answer = detections_answer(boxes={"name": "detection_boxes"}, text=None)
    server = script(scripted, Reply(body=answer))
    model = remote(
        server.url, boxes_output="detection_boxes", class_names=("a", "b"), confidence_threshold=0.5
    )
    (result,) = model.predict([TINY])
    model.close()
    assert result.class_names == ("a", "b")
    assert result.text is None
    np.testing.assert_array_equal(result.xyxy, [[5, 6, 7, 8]])


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(body=b"<html>gateway</html>"),
            r"non-JSON body \(text/plain\): '<html>gateway</html>'",
        ),
        (Reply(body=[1, 2]), "not an object"),
        (Reply(body={"model_name": "circles"}), "without an 'outputs' list"),
        (Reply(body=detections_answer(boxes=None)), "without an output named 'boxes'"),
        (
            Reply(body=detections_answer(boxes={"shape": [2, 2, 2]})),
            r"'boxes' has shape \[2, 2, 2\]; expected \[N, 4\]",
        ),
        (Reply(body=detections_answer(scores={"shape": [2, 1]})), r"'scores' has shape \[2, 1\]"),
        (
            Reply(body=detections_answer(scores={"shape": [3], "data": [1, 2, 3]})),
            r"'scores' has shape \[3\]; expected \[2\]",
        ),
        (
            Reply(body=detections_answer(class_ids={"data": [1]})),
            r"'class_ids' has 1 values; its shape \[2\] holds 2",
        ),
        (
            Reply(body=detections_answer(class_ids={"datatype": "COMPLEX"})),
            "unsupported datatype 'COMPLEX'",
        ),
        (Reply(body=detections_answer(scores={"data": ["high", "low"]})), "does not fit FP32"),
        (Reply(body=detections_answer(scores={"shape": None})), "no valid shape"),
        (
            Reply(404, {"error": "model circles not found"}),
            r"not found \(HTTP 404: model circles not found\)",
        ),
    ],
)
def test_bad_answers(scripted: list[ScriptedServer], reply: Reply, message: str) -> None:
    server = script(scripted, reply)
    model = remote(server.url)
    with pytest.raises(ModelError, match=message):
        model.predict([TINY])
    model.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": None}, "has no url"),
        ({"input_encoding": "jpeg"}, "input_encoding"),
        ({"timeout_s": "soon"}, "timeout_s must be a number"),
        ({"retries": -1}, "retries must not be negative"),
    ],
)
def test_bad_specs(options: dict[str, Any], message: str) -> None:
    url = options.pop("url", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match=message):
        load_model(ModelSpec("m", "kserve", url=url, options=options))


def test_the_apps_own_models_are_served(stack: Stack, circles: Model, coins: RGBImage) -> None:
    """`context.models` (built-ins first) answers the v2 routes with the built-in's own result."""
    headers = stack.user("own@example.com")
    answer = stack.client.post("/v2/models/circles/infer", json=tensor_body(coins), headers=headers)
    assert answer.status_code == 200, answer.text
    scores = {o["name"]: o for o in answer.json()["outputs"]}["scores"]["data"]
    np.testing.assert_allclose(scores, circles.predict([coins])[0].confidence, rtol=1e-6)
    # It ran in a model process: the API process loaded no model.
    assert stack.context.runtime.models._loaded == {}
    assert stack.context.processes.children()
