"""Item 2: a body-size limit and a read timeout on every request, before authentication."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.conftest import EMBEDDED, ServerProcess
from tests.support.stack import LiveServer

MB = 1024 * 1024


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {
        "body_timeout_s": 1.0,
        "ml_analysis_enabled": True,
        "ml_callback_hmac_secret": "s" * 32,
    }


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _send_headers(base_url: str, path: str, length: int) -> socket.socket:
    sock = socket.create_connection(_address(base_url), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
    )
    return sock


def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data.split(b"\r\n", 1)[0].decode()


@EMBEDDED
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects",
        "/api/v1/auth/token",
        "/api/images/0190f5c4-0000-7000-8000-000000000001/analyses",  # HMAC-signed route
    ],
)
def test_item2_declared_oversize_body_refused_before_reading(
    live_server: LiveServer, path: str
) -> None:
    """100 MB declared, none sent: the 413 comes at once, without a token, without the body."""
    with _send_headers(live_server.base_url, path, 100 * MB) as sock:
        assert _status_line(sock).startswith("HTTP/1.1 413 ")


@EMBEDDED
def test_item2_chunked_body_cut_at_the_limit(live_server: LiveServer) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += MB
            yield b" " * MB

    with live_server.client() as client:
        answer = client.post(
            "/api/v1/projects", content=body(), headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]


@EMBEDDED
def test_item2_slow_body_is_timed_out(live_server: LiveServer) -> None:
    """One byte every 0.3 s: cut after the allowance (1 s here, plus 1 s per 8 KiB), with a 408."""
    started = time.monotonic()
    with _send_headers(live_server.base_url, "/api/v1/projects", 1000) as sock:
        sock.settimeout(0.3)
        status = ""
        while time.monotonic() - started < 15:
            try:
                sock.sendall(b" ")
                status = _status_line(sock)
                break
            except TimeoutError:
                continue
    assert status.startswith("HTTP/1.1 408 ")
    assert time.monotonic() - started < 10


def _post_100mb(base_url: str, chunked: bool) -> int:
    """POST 100 MB to /api/v1/projects without a token; the status, or 0 if the server hung up
    without one (it may close once it has answered)."""
    chunk = b"x" * MB
    if chunked:

        def body() -> Iterator[bytes]:
            for _ in range(100):
                yield chunk

        try:
            with httpx.Client(base_url=base_url, timeout=60) as client:
                return client.post("/api/v1/projects", content=body()).status_code
        except httpx.TransportError:
            return 0
    with _send_headers(base_url, "/api/v1/projects", 100 * MB) as sock:
        try:
            for _ in range(100):
                sock.sendall(chunk)
        except OSError:
            pass
        try:
            return int(_status_line(sock).split()[1])
        except (OSError, IndexError):
            return 0


def test_item2_memory_parallel_100mb_bodies_stay_near_idle(
    server_process: ServerProcess,
) -> None:
    """8 parallel unauthenticated 100 MB bodies (declared, then chunked): the server's own peak
    resident memory (VmHWM) stays within 50 MB of its idle size."""
    with httpx.Client(base_url=server_process.base_url) as client:
        for _ in range(3):  # warm the routes up
            client.post("/api/v1/projects", json={"name": "x"})
    idle_kb = server_process.status("VmRSS")
    server_process.reset_peak()
    for chunked in (False, True):
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(_post_100mb, [server_process.base_url] * 8, [chunked] * 8))
        assert set(codes) <= {413, 0}, codes
        assert 413 in codes
    peak_kb = server_process.status("VmHWM")
    print(f"idle RSS {idle_kb / 1024:.0f} MB, peak {peak_kb / 1024:.0f} MB")
    assert peak_kb - idle_kb < 50 * 1024, (idle_kb, peak_kb)
