"""Signed image links: what the Label Studio export writes so that another tool, in a browser of
another origin, can load each task's image without a labelbay sign-in.

Run on both stacks against a real uvicorn: on the local folder the link answers the bytes, on S3
(moto) it redirects to a presigned URL; either way with `Access-Control-Allow-Origin: *`, and
with no credential at all.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from labelbay.security.signed_urls import signed_query
from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.exports.helpers import box, detection, labelled_project
from tests.support.stack import LiveServer, Stack

ORIGIN = "https://label-studio.example.com"
DAY = 24 * 3600


@dataclass
class Fetched:
    """What a page of another origin gets for a link: the first answer (its CORS header), and
    the last (after a redirect to presigned S3, if any)."""

    first: httpx.Response
    last: httpx.Response


def fetch(url: str) -> Fetched:
    """GET the way a browser page of another origin does: no cookie, no token."""
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        first = client.get(url, headers={"Origin": ORIGIN})
        if first.status_code != 307:
            return Fetched(first, first)
        return Fetched(first, client.get(first.headers["location"]))


@pytest.fixture
def one_image(stack: Stack) -> tuple[dict[str, str], uuid.UUID, bytes]:
    headers = stack.quick_user(f"links-{uuid.uuid4().hex[:6]}@example.com")
    project = stack.project(headers)
    data = jpeg_bytes(40, 30, seed=3)
    [image] = upload_ok(stack, project["id"], headers, image_part(data, "one.jpg"))
    return headers, uuid.UUID(image["id"]), data


def link(live: LiveServer, image_id: uuid.UUID, query: str) -> str:
    return f"{live.base_url}/api/v1/images/{image_id}/content?{query}"


def test_label_studio_tasks_load_without_a_token(stack: Stack, live_server: LiveServer) -> None:
    """The export, asked of a real server, holds absolute signed links that open each task's
    image, from another origin, without a credential, for the configured lifetime."""
    labelled = labelled_project(
        stack,
        sizes=[(200, 100), (64, 48)],
        labels=["cat"],
        predictions={0: [detection("cat", 0.9, box(20, 10, 60, 50))]},
        annotations={},
    )
    with live_server.client(headers=labelled.headers) as client:
        answer = client.get(
            f"/api/v1/projects/{labelled.project_id}/export",
            params={"format": "labelstudio", "model": "det"},
        )
    assert answer.status_code == 200, answer.text
    tasks = answer.json()
    assert len(tasks) == 2
    started = time.time()
    for index, task in enumerate(tasks):
        url = task["data"]["image"]
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == live_server.base_url
        assert parts.path == f"/api/v1/images/{labelled.image_ids[index]}/content"
        query = parse_qs(parts.query)
        assert set(query) == {"expires", "signature"}
        lifetime = int(query["expires"][0]) - started
        assert 7 * DAY - 60 < lifetime <= 7 * DAY + 1  # the default lifetime
        image = fetch(url)
        assert image.last.status_code == 200, image.last.text
        size = [(200, 100), (64, 48)][index]
        assert image.last.content == jpeg_bytes(*size, seed=index)
        assert image.first.headers["access-control-allow-origin"] == "*"


def test_signed_link_alone_opens_the_image(
    stack: Stack, live_server: LiveServer, one_image: tuple[dict[str, str], uuid.UUID, bytes]
) -> None:
    _, image_id, data = one_image
    secret = stack.settings.secret_key.get_secret_value()
    query = signed_query(image_id, expires=int(time.time()) + 60, secret=secret)
    answer = fetch(link(live_server, image_id, query))
    assert answer.last.status_code == 200, answer.last.text
    assert answer.last.content == data
    assert answer.first.headers["access-control-allow-origin"] == "*"


def test_expired_link_is_403(
    stack: Stack, live_server: LiveServer, one_image: tuple[dict[str, str], uuid.UUID, bytes]
) -> None:
    _, image_id, _ = one_image
    secret = stack.settings.secret_key.get_secret_value()
    query = signed_query(image_id, expires=int(time.time()) - 5, secret=secret)
    answer = fetch(link(live_server, image_id, query)).last
    assert answer.status_code == 403
    assert "the link expired at" in answer.json()["detail"]
    # The page that followed the link may read why.
    assert answer.headers["access-control-allow-origin"] == "*"


def tampered(image_id: uuid.UUID, other_id: uuid.UUID, secret: str) -> list[str]:
    """Links that were good once, each changed one way."""
    expires = int(time.time()) + 600
    good = parse_qs(signed_query(image_id, expires=expires, secret=secret))
    signature = good["signature"][0]
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        f"expires={expires}&signature={flipped}",  # the signature changed
        f"expires={expires + 3600}&signature={signature}",  # the expiry moved later
        signed_query(other_id, expires=expires, secret=secret),  # another image's link
        signed_query(image_id, expires=expires, secret="another server's secret" * 2),
        f"expires={expires}&signature=",
    ]


def test_tampered_links_are_403(
    stack: Stack, live_server: LiveServer, one_image: tuple[dict[str, str], uuid.UUID, bytes]
) -> None:
    _, image_id, _ = one_image
    secret = stack.settings.secret_key.get_secret_value()
    for query in tampered(image_id, uuid.uuid4(), secret):
        answer = fetch(link(live_server, image_id, query)).last
        assert answer.status_code == 403, query
        assert "signature does not match" in answer.json()["detail"], query


@pytest.mark.parametrize("query", ["expires=99999999999", "signature=abc"])
def test_half_a_link_is_403(
    live_server: LiveServer, one_image: tuple[dict[str, str], uuid.UUID, bytes], query: str
) -> None:
    _, image_id, _ = one_image
    answer = fetch(link(live_server, image_id, query)).last
    assert answer.status_code == 403
    assert answer.json()["detail"] == "a signed link needs both `expires` and `signature`"


def test_good_link_to_a_deleted_image_is_404(
    stack: Stack, one_image: tuple[dict[str, str], uuid.UUID, bytes]
) -> None:
    headers, image_id, _ = one_image
    secret = stack.settings.secret_key.get_secret_value()
    query = signed_query(image_id, expires=int(time.time()) + 60, secret=secret)
    assert stack.client.delete(f"/api/v1/images/{image_id}", headers=headers).status_code == 204
    answer = stack.client.get(f"/api/v1/images/{image_id}/content?{query}")
    assert answer.status_code == 404


def test_preflight_from_another_origin_is_allowed(
    live_server: LiveServer, one_image: tuple[dict[str, str], uuid.UUID, bytes]
) -> None:
    _, image_id, _ = one_image
    with httpx.Client(timeout=30) as client:
        answer = client.options(
            f"{live_server.base_url}/api/v1/images/{image_id}/content",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "GET" in answer.headers["access-control-allow-methods"]
    # No credentials cross origins: the signed link is the credential.
    assert "access-control-allow-credentials" not in answer.headers
    assert "authorization" not in answer.headers.get("access-control-allow-headers", "").lower()


def test_the_signed_in_api_stays_same_origin(
    live_server: LiveServer, one_image: tuple[dict[str, str], uuid.UUID, bytes]
) -> None:
    headers, image_id, _ = one_image
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        signed_in = client.get(
            f"/api/v1/images/{image_id}/content", headers={**headers, "Origin": ORIGIN}
        )
        assert signed_in.status_code in (200, 307)
        assert "access-control-allow-origin" not in signed_in.headers
        listing = client.get("/api/v1/projects", headers={**headers, "Origin": ORIGIN})
        assert "access-control-allow-origin" not in listing.headers
        preflight = client.options(
            "/api/v1/projects",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        anonymous = client.get(f"/api/v1/images/{image_id}/content")
        assert anonymous.status_code == 401
