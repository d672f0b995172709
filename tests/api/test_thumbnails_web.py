"""Server-side thumbnails, and the web app served at `/` without shadowing the API."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from labelbay.api.routes import web
from tests.api.factories import jpeg_bytes, png_bytes
from tests.support.stack import Stack


def upload(stack: Stack, data: bytes, name: str) -> tuple[dict[str, str], dict[str, str]]:
    headers = stack.user("owner@example.com")
    project = stack.project(headers)
    answer = stack.client.post(
        f"/api/v1/projects/{project['id']}/images",
        files=[("files", (name, data, "application/octet-stream"))],
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return headers, answer.json()["images"][0]


def test_thumbnail_is_a_cached_jpeg_that_fits(stack: Stack) -> None:
    headers, image = upload(stack, png_bytes(600, 300), "wide.png")
    url = f"/api/v1/images/{image['id']}/thumbnail?size=128"
    first = stack.client.get(url, headers=headers)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/jpeg"
    assert "max-age" in first.headers["cache-control"]
    with Image.open(io.BytesIO(first.content)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (128, 64)
    assert stack.context.storage.output.exists(f"thumbnails/128/{image['storage_key']}")
    again = stack.client.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert stack.client.get(url, headers=headers).content == first.content


@pytest.mark.parametrize("size", [0, 100, 5000])
def test_thumbnail_refuses_other_sizes(stack: Stack, size: int) -> None:
    headers, image = upload(stack, jpeg_bytes(40, 30), "a.jpg")
    answer = stack.client.get(
        f"/api/v1/images/{image['id']}/thumbnail?size={size}", headers=headers
    )
    assert answer.status_code == 422


def test_thumbnail_needs_membership(stack: Stack) -> None:
    _, image = upload(stack, jpeg_bytes(40, 30), "a.jpg")
    url = f"/api/v1/images/{image['id']}/thumbnail"
    assert stack.client.get(url).status_code == 401
    stranger = stack.user("stranger@example.com")
    assert stack.client.get(url, headers=stranger).status_code == 404


@pytest.fixture
def built_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>app</title><div id=root></div>")
    (root / "assets" / "index-abc123.js").write_text("console.log(1)")
    monkeypatch.setattr(web, "APP_DIR", root)
    return root


def test_web_app_serves_index_for_client_routes(stack: Stack, built_app: Path) -> None:
    for path in ("/", "/projects/3", "/images/0190-abc"):
        answer = stack.client.get(path)
        assert answer.status_code == 200, path
        assert "<div id=root>" in answer.text
    asset = stack.client.get("/assets/index-abc123.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert stack.client.get("/assets/missing.js").status_code == 404
    escape = stack.client.get("/assets/..%2f..%2f..%2f..%2fetc%2fpasswd")
    # Not a file inside the build: a client route, answered with the app's page, never the file.
    assert escape.status_code == 200
    assert escape.text == stack.client.get("/").text
    assert "root:" not in escape.text


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api", 404),
        ("GET", "/v2/nothing", 404),
        ("POST", "/projects/3", 404),
        ("DELETE", "/health", 405),
        ("GET", "/health", 200),
        ("GET", "/openapi.json", 200),
    ],
)
def test_web_app_never_shadows_the_api(
    stack: Stack, built_app: Path, method: str, path: str, code: int
) -> None:
    answer = stack.client.request(method, path)
    assert answer.status_code == code, answer.text
    if path.startswith(("/api", "/v2")):
        assert answer.headers["content-type"].startswith("application/json")


def test_without_a_build_the_root_says_how_to_build(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "APP_DIR", tmp_path / "nothing")
    answer = stack.client.get("/")
    assert answer.status_code == 200
    assert "make frontend" in answer.text
