"""Shared pieces of the job tests: a real model, images to run it on, a callback receiver."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nudenet
import numpy as np
from PIL import Image
from skimage import data as samples

from labelbay.db.session import transaction
from labelbay.services.models import register_model
from tests.support.stack import Stack

YOLO_FILE = Path(nudenet.__file__).parent / "320n.onnx"
NUDENET_CLASSES = [f"class_{i}" for i in range(18)]


def register_yolo(stack: Stack, name: str = "yolo") -> None:
    with transaction(stack.context.sessions) as session:
        register_model(
            session,
            store=stack.context.storage.models,
            name=name,
            format="onnx-yolo",
            file=YOLO_FILE,
            input_size=(320, 320),
            class_names=NUDENET_CLASSES,
        )


def photo_jpegs(count: int) -> list[bytes]:
    """Real photos (astronaut has a face the YOLO fixture finds; a flat grey image has nothing)."""
    astronaut = samples.astronaut()
    out = []
    for i in range(count):
        pixels = astronaut if i % 4 else np.full((240, 320, 3), 128, np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=85 - i % 5)
        out.append(buf.getvalue())
    return out


def small_jpegs(count: int) -> list[bytes]:
    """160x120 JPEGs: three in four show the astronaut (the YOLO fixture finds something), the
    rest are flat grey (nothing found). Small, so the tests measure the queue, not the model."""
    astronaut = np.asarray(Image.fromarray(samples.astronaut()).resize((160, 120)))
    grey = np.full((120, 160, 3), 128, np.uint8)
    out = []
    for i in range(count):
        buf = io.BytesIO()
        Image.fromarray(astronaut if i % 4 else grey).save(buf, "JPEG", quality=80 + i % 15)
        out.append(buf.getvalue())
    return out


def upload(stack: Stack, headers: dict[str, str], project_id: int, blobs: list[bytes]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(blobs), 50):
        files = [
            ("files", (f"img{start + i}.jpg", blob, "image/jpeg"))
            for i, blob in enumerate(blobs[start : start + 50])
        ]
        answer = stack.client.post(
            f"/api/v1/projects/{project_id}/images", files=files, headers=headers
        )
        assert answer.status_code == 201, answer.text
        ids.extend(image["id"] for image in answer.json()["images"])
    return ids


def wait_for_job(
    stack: Stack, headers: dict[str, str], job_id: int, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = stack.client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("completed", "failed", "cancelled") and (
            not job["callback_url"] or job["callback_status"]
        ):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not finish: {job}")
        time.sleep(0.1)


@dataclass
class Receiver:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0


@contextmanager
def callback_receiver(fail_first: int = 0, always_fail: bool = False) -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records each POST (and can answer 500 first)."""
    receiver = Receiver(url="", fail_first=fail_first)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.posts.append((dict(self.headers), body))
                failing = always_fail or len(receiver.posts) <= receiver.fail_first
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def body_json(body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(body)
    return result
