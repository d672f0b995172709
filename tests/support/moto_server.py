"""pytest plugin: a real S3 endpoint on loopback, served by moto in its own process.

A separate process (not moto's in-process mocks) means the code under test talks real HTTP through
its own client stack, exactly as it would to MinIO or AWS. Registered from the root conftest with
`pytest_plugins = ["tests.support.moto_server"]`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

# Dummy credentials: moto accepts any, and setting them stops boto3/obstore from looking for real
# ones (in ~/.aws or an instance metadata endpoint, which would be slow and possibly not dummy).
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str
    region: str = "us-east-1"

    def client(self) -> Any:
        """A boto3 S3 client for this server: the independent tool tests re-read objects with."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited early with status {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {url} within {_START_TIMEOUT_S} s")


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoServer]:
    """Start `python -m moto.server` on a free loopback port for the whole session."""
    saved = {name: os.environ.get(name) for name in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **DUMMY_CREDENTIALS},
    )
    try:
        _wait_until_up(proc, endpoint)
        yield MotoServer(endpoint_url=endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(moto_s3: MotoServer) -> str:
    """A fresh, empty bucket for one test (unique name, so tests never see each other's objects)."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    moto_s3.client().create_bucket(Bucket=name)
    return name
