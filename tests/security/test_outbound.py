"""Item 1: every URL a user supplies passes one outbound guard (imports' S3 endpoints included)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from labelbay.imports.sources import s3_url
from labelbay.outbound import OutboundGuard, OutboundRefused
from tests.security.conftest import EMBEDDED, Listener
from tests.support.stack import Stack


def _import(stack: Stack, headers: dict[str, str], source_url: str) -> Any:
    project = stack.project(headers)["id"]
    return stack.client.post(
        f"/api/v1/projects/{project}/imports", json={"source_url": source_url}, headers=headers
    )


@EMBEDDED
def test_item1_import_ssrf_loopback_endpoints_never_contacted(
    stack: Stack, listener_v4: Listener, listener_v6: Listener
) -> None:
    """A project manager (not an administrator) names the server's own loopback as the S3
    endpoint: refused, and nothing (no signed request, no key id) reaches the address."""
    manager = stack.quick_user("manager@example.com")
    for listener in (listener_v4, listener_v6):
        endpoint = f"http://{listener.url_host}:{listener.port}"
        answer = _import(stack, manager, s3_url("bucket", "p", endpoint=endpoint))
        assert answer.status_code == 403, answer.text
        assert "allow-list" in answer.json()["detail"]
    assert listener_v4.received == []
    assert listener_v6.received == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254",  # the cloud metadata service
        "http://[::ffff:127.0.0.1]:9",
        "http://localhost:9",
        "http://10.0.0.1:9000",
        "ftp://example.com",
    ],
)
@EMBEDDED
def test_item1_import_ssrf_private_endpoints_refused(stack: Stack, endpoint: str) -> None:
    manager = stack.quick_user("manager@example.com")
    answer = _import(stack, manager, s3_url("bucket", "p", endpoint=endpoint))
    assert answer.status_code == 403, answer.text


@EMBEDDED
@pytest.mark.parametrize(
    "source",
    [
        "s3://bucket/p?region=us-east-1.attacker.example%23",  # would become part of an AWS host name
        "s3://attacker.example:80%23/p",
    ],
)
def test_item1_import_ssrf_bucket_and_region_stay_names(stack: Stack, source: str) -> None:
    manager = stack.quick_user("manager@example.com")
    assert _import(stack, manager, source).status_code == 403


@EMBEDDED
def test_item1_import_ssrf_second_endpoint_is_checked_too(
    stack: Stack, listener_v4: Listener
) -> None:
    """The storage URL parser takes the last `endpoint`: each one given is checked."""
    manager = stack.quick_user("manager@example.com")
    source = f"s3://bucket/p?endpoint=https://s3.amazonaws.com&endpoint=http://127.0.0.1:{listener_v4.port}"
    assert _import(stack, manager, source).status_code == 403
    assert listener_v4.received == []


@pytest.fixture
def http_echo() -> Iterator[tuple[int, list[str]]]:
    """A tiny HTTP server on 127.0.0.1 that records the Host header of each request."""
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers.get("Host", ""))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hosts
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_item1_guard_connects_to_the_checked_address(http_echo: tuple[int, list[str]]) -> None:
    """The guard's client resolves a name once and connects to that address, keeping the name for
    the Host header; an untrusted guard refuses loopback even through a redirect-free client."""
    port, hosts = http_echo
    with OutboundGuard(trusted=True).client(timeout=5) as client:
        assert client.get(f"http://localhost:{port}/x").status_code == 204
    assert hosts == [f"localhost:{port}"]
    with pytest.raises(OutboundRefused):
        OutboundGuard().check(f"http://localhost:{port}/x")
    with OutboundGuard().client(timeout=5) as client, pytest.raises(Exception, match="private"):
        client.get(f"http://127.0.0.1:{port}/x")
    assert len(hosts) == 1
    allowed = OutboundGuard.of(["127.0.0.0/8"])
    assert allowed.check(f"http://127.0.0.1:{port}/").address.exploded == "127.0.0.1"
