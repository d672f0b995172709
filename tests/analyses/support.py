"""Helpers for the analyses tests: a signed pipeline client, an image to analyse, raw re-reads.

Signatures are computed here with `hmac` directly, from the documented contract, not with the
server's own signing code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.factories import image_part, png_bytes, upload_ok
from tests.support.moto_server import DUMMY_CREDENTIALS
from tests.support.stack import Stack

SECRET = "pipeline-shared-secret-for-tests"
MODELS = ["yolo_v8", "resnet50_classifier"]
IMAGE_W, IMAGE_H = 64, 48
MAX_BULK = 6
MAX_ARTIFACT = 64 * 1024

SETTINGS = {
    "ml_analysis_enabled": True,
    "ml_callback_hmac_secret": SECRET,
    "ml_allowed_models": MODELS,
    "ml_max_annotations_per_request": MAX_BULK,
    "ml_max_artifact_bytes": MAX_ARTIFACT,
}


def signature(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}.{method}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Pipeline:
    """Sends signed requests through the stack's test client, the way a pipeline would.

    Two identical requests within one second carry the same signature, and the second would be
    refused as a replay; a real pipeline's retry comes seconds later, so a repeat here is dated a
    second earlier instead of sleeping.
    """

    stack: Stack
    secret: str = SECRET
    _used: set[str] = field(default_factory=set)

    def headers(
        self, method: str, path: str, body: bytes, *, timestamp: int | None = None
    ) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        sig = signature(self.secret, str(ts), method, path, body)
        while timestamp is None and sig in self._used:
            ts -= 1
            sig = signature(self.secret, str(ts), method, path, body)
        self._used.add(sig)
        return {
            "X-ML-Signature": sig,
            "X-ML-Timestamp": str(ts),
            "Content-Type": "application/json",
        }

    def send(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        sent = (
            headers if headers is not None else self.headers(method, path, raw, timestamp=timestamp)
        )
        return self.stack.client.request(method, path, content=raw, headers=sent)

    def ok(self, method: str, path: str, body: Any, status: int = 200) -> dict[str, Any]:
        answer = self.send(method, path, body)
        assert answer.status_code == status, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def create(self, image_id: str, model: str = "yolo_v8") -> dict[str, Any]:
        return self.ok(
            "POST",
            f"/api/images/{image_id}/analyses",
            {
                "image_id": image_id,
                "model_name": model,
                "model_version": "1.0.0",
                "parameters": {"threshold": 0.5},
            },
            status=201,
        )

    def processing(self, image_id: str) -> str:
        analysis_id: str = self.create(image_id)["id"]
        self.ok("PATCH", f"/api/analyses/{analysis_id}/status", {"status": "processing"})
        return analysis_id


def new_image(stack: Stack, headers: dict[str, str]) -> str:
    project_id = stack.project(headers)["id"]
    images = upload_ok(stack, project_id, headers, image_part(png_bytes(IMAGE_W, IMAGE_H), "a.png"))
    image_id: str = images[0]["id"]
    return image_id


def put_bytes(stack: Stack, url: str, data: bytes) -> httpx.Response:
    """PUT to a presigned URL: S3's goes to moto over real HTTP, labelbay's own through the app."""
    if urlsplit(url).hostname == "testserver":
        return stack.client.put(url, content=data)
    return httpx.put(url, content=data, timeout=30)


def get_bytes(stack: Stack, url: str) -> httpx.Response:
    if urlsplit(url).hostname == "testserver":
        return stack.client.get(url)
    return httpx.get(url, timeout=30)


def raw_artifact(stack: Stack, storage_path: str) -> bytes | None:
    """The artifact's bytes read with boto3 (S3) or the file system, not through labelbay."""
    parts = urlsplit(stack.settings.storage_url)
    if parts.scheme == "file":
        path = Path(parts.netloc + parts.path) / "artifacts" / storage_path
        return path.read_bytes() if path.is_file() else None
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=parse_qs(parts.query)["endpoint"][0],
        region_name="us-east-1",
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        return bytes(
            client.get_object(Bucket=parts.netloc, Key=f"artifacts/{storage_path}")["Body"].read()
        )
    except client.exceptions.NoSuchKey:
        return None
