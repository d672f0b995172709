"""Uploading, listing, reading and deleting images, on both stacks (SQLite + folder, PostgreSQL + S3).

Every check re-reads what the server kept on its own: the list endpoint, rows with plain SQL, and
objects with boto3 (S3) or the file system (local folder).
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.api.factories import (
    Part,
    blank_png,
    image_part,
    image_rows,
    jpeg_bytes,
    list_all,
    metadata_part,
    multipart,
    noise_jpeg,
    png_bytes,
    png_claiming,
    raw_keys,
    raw_object,
    spooled_files,
    upload,
    upload_ok,
    webp_bytes,
)
from tests.support.stack import Stack

MAX_BYTES = 256 * 1024
MAX_PIXELS = 4_000_000


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    """Lower limits, so the oversize file and the real decompression bomb stay small and fast."""
    return {"max_upload_bytes": MAX_BYTES, "max_image_pixels": MAX_PIXELS}


@pytest.fixture
def owner(stack: Stack) -> dict[str, str]:
    return stack.quick_user("owner@example.com")


@pytest.fixture
def project_id(stack: Stack, owner: dict[str, str]) -> int:
    project_id: int = stack.project(owner)["id"]
    return project_id


def _other_format(fmt: str) -> bytes:
    """A real, valid picture in a format the platform does not take (GIF, BMP)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format=fmt)
    return buffer.getvalue()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inside.jpg", jpeg_bytes())
    return buffer.getvalue()


def _corrupt_jpeg_body() -> bytes:
    """Headers intact, the entropy-coded scan after the SOS marker replaced with junk."""
    data = bytearray(jpeg_bytes(64, 48))
    scan = data.index(b"\xff\xda") + 20
    for i in range(scan, len(data) - 2):
        data[i] = 0xFF if i % 2 else 0x12
    return bytes(data)


def _jpeg_header_only() -> bytes:
    """Everything before the first scan: markers and tables, no pixels."""
    data = jpeg_bytes(64, 48)
    return data[: data.index(b"\xff\xda")]


def _png_cut_after_pixels() -> bytes:
    """Every pixel byte present, but the image data's checksum and the closing IEND chunk gone."""
    data = png_bytes(64, 48)
    return data[: data.rindex(b"IEND") - 8]


def _png_damaged_checksum() -> bytes:
    data = bytearray(png_bytes(64, 48))
    data[data.rindex(b"IEND") - 5] ^= 0xFF  # last byte of the image data chunk's CRC
    return bytes(data)


NOT_AN_IMAGE = "not a JPEG, PNG or WebP image"
CORRUPT = "image data is corrupt or truncated"


@dataclass(frozen=True)
class BadUpload:
    id: str
    data: Callable[[], bytes]
    reason: str  # a substring of the reason the uploader sees
    filename: str = "upload.jpg"
    field: str = "files"


BAD_UPLOADS = [
    BadUpload("empty-file", lambda: b"", "file is empty"),
    BadUpload("text-named-jpg", lambda: b"just some text, not a picture\n", NOT_AN_IMAGE),
    BadUpload("truncated-jpeg", lambda: jpeg_bytes(64, 48)[:400], CORRUPT),
    BadUpload("truncated-png", lambda: png_bytes(64, 48)[:120], CORRUPT, "upload.png"),
    BadUpload("png-cut-after-pixels", _png_cut_after_pixels, CORRUPT, "upload.png"),
    BadUpload("png-damaged-checksum", _png_damaged_checksum, CORRUPT, "upload.png"),
    BadUpload("corrupt-jpeg-body", _corrupt_jpeg_body, CORRUPT),
    BadUpload("jpeg-header-only", _jpeg_header_only, "JPEG header is corrupt"),
    BadUpload("jpeg-magic-only", lambda: jpeg_bytes()[:20], "JPEG header is corrupt"),
    BadUpload("gif", lambda: _other_format("GIF"), NOT_AN_IMAGE, "upload.gif"),
    BadUpload("bmp", lambda: _other_format("BMP"), NOT_AN_IMAGE, "upload.bmp"),
    BadUpload(
        "pdf", lambda: b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", NOT_AN_IMAGE
    ),
    BadUpload("zip", _zip, NOT_AN_IMAGE, "photos.jpg"),
    BadUpload(
        "bomb-header-claims-10G-pixels",
        lambda: png_claiming(100_000, 100_000),
        f"image has 100000x100000 pixels, over the limit of {MAX_PIXELS}",
        "bomb.png",
    ),
    BadUpload(
        "bomb-real-9M-pixels-in-kilobytes",
        lambda: blank_png(3000, 3000),
        f"image has 3000x3000 pixels, over the limit of {MAX_PIXELS}",
        "bomb.png",
    ),
    BadUpload(
        "oversize",
        lambda: noise_jpeg(MAX_BYTES + 1),
        f"file is larger than the limit of {MAX_BYTES} bytes",
    ),
    BadUpload("nul-in-name", jpeg_bytes, "control characters", "evil\x00.jpg"),
    BadUpload("control-chars-in-name", jpeg_bytes, "control characters", "a\x1b[31mred\x07.jpg"),
    BadUpload("newline-in-name", jpeg_bytes, "control characters", "two\nlines.jpg"),
    BadUpload("500-char-name", jpeg_bytes, "longer than 255 characters", "a" * 496 + ".jpg"),
    BadUpload("name-is-dotdot", jpeg_bytes, "file name is empty", ".."),
    BadUpload("name-is-empty", jpeg_bytes, "file name is empty", ""),
    BadUpload("name-ends-in-slash", jpeg_bytes, "file name is empty", "photos/"),
    BadUpload("wrong-field-name", jpeg_bytes, "unexpected field 'file'", field="file"),
    BadUpload(
        "svg",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
        NOT_AN_IMAGE,
        "vector.jpg",
    ),
    BadUpload(
        "html",
        lambda: b"<!doctype html><html><script>alert(1)</script></html>",
        NOT_AN_IMAGE,
        "page.png",
    ),
]


@pytest.mark.parametrize("bad", BAD_UPLOADS, ids=[b.id for b in BAD_UPLOADS])
def test_bad_upload_is_refused_and_nothing_is_stored(
    stack: Stack, owner: dict[str, str], project_id: int, bad: BadUpload, spool_dir: Path
) -> None:
    part = Part(data=bad.data(), filename=bad.filename, field=bad.field)

    answer = upload(stack, project_id, owner, part)

    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["images"] == []
    assert len(body["rejected"]) == 1
    rejected = body["rejected"][0]
    assert bad.reason in rejected["reason"]
    # The name shown back is what was sent (cut at 300 characters), never a rewrite of it.
    assert rejected["filename"] == bad.filename[:300]
    assert list_all(stack, project_id, owner) == []
    assert image_rows(stack) == []
    assert stack.object_keys() == set()
    assert raw_keys(stack) == set()
    assert spooled_files() == set()


def test_png_named_jpg_is_accepted_by_its_content(
    stack: Stack, owner: dict[str, str], project_id: int
) -> None:
    data = png_bytes(20, 10)
    [image] = upload_ok(stack, project_id, owner, image_part(data, "photo.jpg"))
    assert image["mime_type"] == "image/png"
    assert image["original_filename"] == "photo.jpg"
    assert image["storage_key"].endswith(".png")
    assert raw_object(stack, image["storage_key"]) == data


def test_webp_is_accepted(stack: Stack, owner: dict[str, str], project_id: int) -> None:
    data = webp_bytes(30, 20)
    [image] = upload_ok(stack, project_id, owner, image_part(data, "pic.webp"))
    assert (image["mime_type"], image["width"], image["height"]) == ("image/webp", 30, 20)
    assert image["storage_key"].endswith(".webp")
    assert raw_object(stack, image["storage_key"]) == data


KEY_RE = re.compile(r"images/(\d{4})/(\d{2})/(\d{2})/([0-9a-f-]{36})\.jpg")


def test_hostile_path_is_reduced_to_its_last_component(
    stack: Stack, owner: dict[str, str], project_id: int, tmp_path: Path
) -> None:
    data = jpeg_bytes()
    [image] = upload_ok(stack, project_id, owner, image_part(data, "../../etc/passwd.jpg"))

    assert image["original_filename"] == "passwd.jpg"
    match = KEY_RE.fullmatch(image["storage_key"])
    assert match is not None, image["storage_key"]
    day = datetime(*(int(g) for g in match.groups()[:3]), tzinfo=UTC).date()
    today = datetime.now(UTC).date()
    assert day in {today, today - timedelta(days=1)}
    assert uuid.UUID(match.group(4))
    assert raw_keys(stack) == {image["storage_key"]}
    assert raw_object(stack, image["storage_key"]) == data
    assert not (tmp_path / "etc").exists()
    [row] = image_rows(stack)
    assert (row["original_filename"], row["storage_key"]) == ("passwd.jpg", image["storage_key"])


def test_mixed_batch_stores_the_good_and_lists_the_bad(
    stack: Stack, owner: dict[str, str], project_id: int, spool_dir: Path
) -> None:
    good = jpeg_bytes(seed=1)
    answer = upload(
        stack,
        project_id,
        owner,
        image_part(good, "good.jpg"),
        image_part(b"GIF89a not really", "bad.jpg"),
        image_part(png_bytes(), "good2.png"),
        image_part(b"", "empty.jpg"),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert [i["original_filename"] for i in body["images"]] == ["good.jpg", "good2.png"]
    assert [(r["filename"], r["reason"]) for r in body["rejected"]] == [
        ("bad.jpg", "not a JPEG, PNG or WebP image (judged by content, not the extension)"),
        ("empty.jpg", "file is empty"),
    ]
    keys = {i["storage_key"] for i in body["images"]}
    assert raw_keys(stack) == keys
    assert {r["storage_key"] for r in image_rows(stack)} == keys
    assert spooled_files() == set()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"files": []}'),
        ("application/x-www-form-urlencoded", b"files=abc"),
        ("multipart/form-data", b"--x--\r\n"),  # no boundary parameter
        (None, b"raw bytes"),
    ],
    ids=["json", "urlencoded", "multipart-without-boundary", "no-content-type"],
)
def test_not_multipart_is_415(
    stack: Stack, owner: dict[str, str], project_id: int, content_type: str | None, body: bytes
) -> None:
    headers = dict(owner)
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = stack.client.post(
        f"/api/v1/projects/{project_id}/images", content=body, headers=headers
    )
    assert answer.status_code == 415, answer.text
    assert "multipart/form-data" in answer.json()["detail"]
    assert raw_keys(stack) == set()


@pytest.mark.parametrize(
    "parts",
    [(), (Part(b'{"a": 1}', filename=None, field="metadata"),)],
    ids=["empty-form", "only-metadata"],
)
def test_no_files_is_400(
    stack: Stack, owner: dict[str, str], project_id: int, parts: tuple[Part, ...]
) -> None:
    answer = upload(stack, project_id, owner, *parts)
    assert answer.status_code == 400, answer.text
    assert "no files" in answer.json()["detail"]
    assert raw_keys(stack) == set()


def test_cut_off_multipart_body_is_400_and_stores_nothing(
    stack: Stack, owner: dict[str, str], project_id: int, spool_dir: Path
) -> None:
    """The request itself is complete, but its multipart body stops without a closing boundary."""
    body, content_type = multipart(image_part(jpeg_bytes(), "a.jpg"))
    answer = stack.client.post(
        f"/api/v1/projects/{project_id}/images",
        content=body[: len(body) // 2],
        headers={**owner, "Content-Type": content_type},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == "multipart body ended early"
    assert raw_keys(stack) == set()
    assert image_rows(stack) == []
    assert spooled_files() == set()


def test_bad_metadata_json_is_400(
    stack: Stack, owner: dict[str, str], project_id: int, spool_dir: Path
) -> None:
    answer = upload(
        stack,
        project_id,
        owner,
        Part(b"{not json", filename=None, field="metadata"),
        image_part(jpeg_bytes(), "a.jpg"),
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == "metadata is not valid JSON"
    assert raw_keys(stack) == set()
    assert spooled_files() == set()


@pytest.mark.parametrize(
    ("make", "mime"),
    [
        (lambda: jpeg_bytes(37, 23, seed=3), "image/jpeg"),
        (lambda: png_bytes(41, 9, seed=4), "image/png"),
        (lambda: webp_bytes(13, 31, seed=5), "image/webp"),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_recorded_facts_match_the_file(
    stack: Stack, owner: dict[str, str], project_id: int, make: Callable[[], bytes], mime: str
) -> None:
    data = make()
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    [image] = upload_ok(stack, project_id, owner, image_part(data, "facts"))

    expected = {
        "mime_type": mime,
        "size_bytes": len(data),
        "width": width,
        "height": height,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert {k: image[k] for k in expected} == expected
    fetched = stack.client.get(f"/api/v1/images/{image['id']}", headers=owner)
    assert fetched.status_code == 200
    assert {k: fetched.json()[k] for k in expected} == expected
    [row] = image_rows(stack)
    assert {k: row[k] for k in expected} == expected
    assert raw_object(stack, image["storage_key"]) == data


def test_metadata_is_stored_and_filterable(
    stack: Stack, owner: dict[str, str], project_id: int
) -> None:
    north = upload_ok(
        stack,
        project_id,
        owner,
        metadata_part({"camera": "north", "day": 3, "checked": True}),
        image_part(jpeg_bytes(seed=1), "North_001.jpg"),
        image_part(jpeg_bytes(seed=2), "north_002.jpg"),
    )
    south = upload_ok(
        stack,
        project_id,
        owner,
        metadata_part({"camera": "south", "day": 4}),
        image_part(jpeg_bytes(seed=3), "south_001.jpg"),
    )
    plain = upload_ok(stack, project_id, owner, image_part(jpeg_bytes(seed=4), "plain_50%.jpg"))
    assert [i["metadata"] for i in north] == [{"camera": "north", "day": 3, "checked": True}] * 2
    assert plain[0]["metadata"] == {}

    def ids(**params: Any) -> set[str]:
        return {i["id"] for i in list_all(stack, project_id, owner, **params)}

    north_ids = {i["id"] for i in north}
    assert ids(**{"metadata.camera": "north"}) == north_ids
    assert ids(**{"metadata.camera": "south"}) == {south[0]["id"]}
    assert ids(**{"metadata.day": "3"}) == north_ids
    assert ids(**{"metadata.checked": "true"}) == north_ids
    assert ids(**{"metadata.camera": "north", "metadata.day": "4"}) == set()
    assert ids(**{"metadata.camera": "east"}) == set()
    assert ids(filename="NORTH") == north_ids
    assert ids(filename="_001") == {north[0]["id"], south[0]["id"]}
    assert ids(filename="50%") == {plain[0]["id"]}
    assert ids(filename="%") == {plain[0]["id"]}  # a literal %, not a wildcard
    answer = stack.client.get(
        f"/api/v1/projects/{project_id}/images",
        params={"metadata.camera": "north", "with_total": "true"},
        headers=owner,
    )
    assert answer.json()["total"] == 2

    patched = stack.client.patch(
        f"/api/v1/images/{plain[0]['id']}", json={"metadata": {"camera": "east"}}, headers=owner
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"] == {"camera": "east"}
    assert ids(**{"metadata.camera": "east"}) == {plain[0]["id"]}


def test_keyset_pagination_walks_every_image_once(
    stack: Stack, owner: dict[str, str], project_id: int
) -> None:
    uploaded = upload_ok(
        stack,
        project_id,
        owner,
        *(image_part(jpeg_bytes(8, 8, seed=i), f"img{i:02}.jpg") for i in range(20)),
    )
    assert len(uploaded) == 20

    def walk(order: str) -> list[list[str]]:
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 7, "order": order}
            if cursor:
                params["cursor"] = cursor
            page = stack.client.get(
                f"/api/v1/projects/{project_id}/images", params=params, headers=owner
            ).json()
            pages.append([i["id"] for i in page["images"]])
            cursor = page["next_cursor"]
            if cursor is None:
                return pages

    ascending = walk("asc")
    assert [len(p) for p in ascending] == [7, 7, 6]
    flat = [i for p in ascending for i in p]
    assert len(set(flat)) == 20
    assert set(flat) == {i["id"] for i in uploaded}
    descending = walk("desc")
    assert [len(p) for p in descending] == [7, 7, 6]
    assert [i for p in descending for i in p] == flat[::-1]

    bad = stack.client.get(
        f"/api/v1/projects/{project_id}/images", params={"cursor": "!!"}, headers=owner
    )
    assert bad.status_code == 422


def test_content_returns_identical_bytes(
    stack: Stack, owner: dict[str, str], project_id: int
) -> None:
    data = jpeg_bytes(50, 40, seed=9)
    [image] = upload_ok(stack, project_id, owner, image_part(data, "content.jpg"))
    answer = stack.client.get(image["content_url"], headers=owner, follow_redirects=False)
    if stack.name == "distributed":
        assert answer.status_code == 307, answer.text
        presigned = answer.headers["location"]
        fetched = httpx.get(presigned, timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == data
        # The presigned URL is for this object only: no credentials needed, but no wandering.
        assert image["storage_key"] in presigned
    else:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        assert answer.content == data


def test_delete_removes_row_and_object(
    stack: Stack, owner: dict[str, str], project_id: int
) -> None:
    kept, gone = upload_ok(
        stack,
        project_id,
        owner,
        image_part(jpeg_bytes(seed=1), "kept.jpg"),
        image_part(jpeg_bytes(seed=2), "gone.jpg"),
    )
    assert raw_object(stack, gone["storage_key"]) is not None

    answer = stack.client.delete(f"/api/v1/images/{gone['id']}", headers=owner)

    assert answer.status_code == 204, answer.text
    assert stack.client.get(f"/api/v1/images/{gone['id']}", headers=owner).status_code == 404
    assert raw_object(stack, gone["storage_key"]) is None
    assert raw_keys(stack) == {kept["storage_key"]}
    assert [r["storage_key"] for r in image_rows(stack)] == [kept["storage_key"]]
    assert [i["id"] for i in list_all(stack, project_id, owner)] == [kept["id"]]
    again = stack.client.delete(f"/api/v1/images/{gone['id']}", headers=owner)
    assert again.status_code == 404


def test_comments_are_posted_and_listed_with_their_author(
    stack: Stack, owner: dict[str, str], project_id: int
) -> None:
    annotator = stack.quick_user("ann@example.com")
    put = stack.client.put(
        f"/api/v1/projects/{project_id}/members",
        json={"email": "ann@example.com", "role": "annotator"},
        headers=owner,
    )
    assert put.status_code == 200, put.text
    [image] = upload_ok(stack, project_id, owner, image_part(jpeg_bytes(), "c.jpg"))
    url = f"/api/v1/images/{image['id']}/comments"

    first = stack.client.post(url, json={"text": "  a cat, not a dog  "}, headers=annotator)
    second = stack.client.post(url, json={"text": "agreed"}, headers=owner)
    empty = stack.client.post(url, json={"text": "   "}, headers=owner)

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert empty.status_code == 422
    listed = stack.client.get(url, headers=annotator)
    assert listed.status_code == 200
    comments = listed.json()["comments"]
    assert [(c["author_email"], c["text"]) for c in comments] == [
        ("ann@example.com", "a cat, not a dog"),
        ("owner@example.com", "agreed"),
    ]
    assert all(c["image_id"] == image["id"] for c in comments)
    created = datetime.fromisoformat(comments[0]["created_at"])
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
