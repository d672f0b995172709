"""Small factories for API tests: image bytes, hand-built multipart bodies, independent re-reads.

Multipart bodies are built by hand (not by httpx) because httpx percent-encodes control characters
in file names, so a NUL or a newline would never reach the server as sent.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from PIL import Image
from sqlalchemy import text

from tests.support.moto_server import DUMMY_CREDENTIALS
from tests.support.stack import Stack

UPLOAD_FIELD = "files"


# -- image bytes ------------------------------------------------------------------------------------


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A small RGB picture with some structure (a gradient), so encoders produce real data."""
    img = Image.new("RGB", (width, height))
    img.putdata(
        [
            ((x * 7 + seed) % 256, (y * 5 + seed) % 256, (x + y) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    return img


def encoded(width: int, height: int, fmt: str, *, seed: int = 0, **save: Any) -> bytes:
    buffer = io.BytesIO()
    _picture(width, height, seed).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def jpeg_bytes(width: int = 16, height: int = 12, *, seed: int = 0) -> bytes:
    return encoded(width, height, "JPEG", seed=seed, quality=90)


def png_bytes(width: int = 16, height: int = 12, *, seed: int = 0) -> bytes:
    return encoded(width, height, "PNG", seed=seed)


def webp_bytes(width: int = 16, height: int = 12, *, seed: int = 0) -> bytes:
    return encoded(width, height, "WEBP", seed=seed)


def noise_jpeg(nbytes_at_least: int) -> bytes:
    """A valid JPEG of random pixels at least `nbytes_at_least` bytes long (noise compresses badly)."""
    side = 64
    while True:
        img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=95)
        if buffer.tell() >= nbytes_at_least:
            return buffer.getvalue()
        side *= 2


def blank_png(width: int, height: int) -> bytes:
    """A real, fully decodable PNG of one grey level: huge in pixels, tiny in bytes."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 0).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels, with one tiny compressed row of data.

    The classic decompression bomb shape: a few hundred bytes that would need gigabytes to decode.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    data = zlib.compress(b"\x00" * (width + 1), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


# -- multipart --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One multipart part. `filename=None` makes it a plain form field."""

    data: bytes
    filename: str | None = "image.jpg"
    field: str = UPLOAD_FIELD
    content_type: str = "application/octet-stream"


def image_part(data: bytes, filename: str) -> Part:
    return Part(data=data, filename=filename)


def multipart(*parts: Part, boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type header) for the parts, with file names sent byte for byte as given."""
    boundary = boundary or f"lbtest{uuid.uuid4().hex}"
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'Content-Disposition: form-data; name="{part.field}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        out += disposition.encode("utf-8") + b"\r\n"
        if part.filename is not None:
            out += f"Content-Type: {part.content_type}\r\n".encode()
        out += b"\r\n" + part.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def metadata_part(meta: dict[str, Any]) -> Part:
    return Part(data=json.dumps(meta).encode(), filename=None, field="metadata")


def upload(stack: Stack, project_id: int, headers: dict[str, str], *parts: Part) -> Any:
    """POST the parts to the project's upload route through the stack's test client."""
    body, content_type = multipart(*parts)
    return stack.client.post(
        f"/api/v1/projects/{project_id}/images",
        content=body,
        headers={**headers, "Content-Type": content_type},
    )


def upload_ok(
    stack: Stack, project_id: int, headers: dict[str, str], *parts: Part
) -> list[dict[str, Any]]:
    answer = upload(stack, project_id, headers, *parts)
    assert answer.status_code == 201, answer.text
    images: list[dict[str, Any]] = answer.json()["images"]
    return images


# -- independent views of what was stored -----------------------------------------------------------


def _input_location(stack: Stack) -> tuple[str, str, dict[str, list[str]]]:
    """(scheme, bucket or folder, query) of the input location, parsed from the settings alone."""
    parts = urlsplit(stack.settings.storage_url)
    query = parse_qs(parts.query)
    if parts.scheme == "file":
        return "file", f"{parts.netloc}{parts.path}".rstrip("/") + "/input", query
    return "s3", parts.netloc, query


def s3_client(stack: Stack) -> Any:
    _, _, query = _input_location(stack)
    return boto3.client(
        "s3",
        endpoint_url=query["endpoint"][0],
        region_name="us-east-1",
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def raw_keys(stack: Stack) -> set[str]:
    """Keys in the input location, listed with boto3 (S3) or the file system (local folder)."""
    scheme, where, _ = _input_location(stack)
    if scheme == "file":
        root = Path(where)
        if not root.exists():
            return set()
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    client = s3_client(stack)
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=where, Prefix="input/"):
        keys.update(item["Key"].removeprefix("input/") for item in page.get("Contents", []))
    return keys


def raw_object(stack: Stack, key: str) -> bytes | None:
    """The stored bytes of `key` in the input location, or None when there is no such object."""
    scheme, where, _ = _input_location(stack)
    if scheme == "file":
        path = Path(where) / key
        return path.read_bytes() if path.is_file() else None
    client = s3_client(stack)
    try:
        return bytes(client.get_object(Bucket=where, Key=f"input/{key}")["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def image_rows(stack: Stack) -> list[dict[str, Any]]:
    """Every row of the images table, read with plain SQL."""
    with stack.context.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM images ORDER BY storage_key"))
        return [dict(row._mapping) for row in rows]


def list_all(
    stack: Stack, project_id: int, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every image of the project, walking the pages of the list endpoint."""
    images: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = stack.client.get(
            f"/api/v1/projects/{project_id}/images", params=query, headers=headers
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        images.extend(page["images"])
        cursor = page["next_cursor"]
        if cursor is None:
            return images


def spooled_files() -> set[str]:
    """Upload spool files (`labelbay-upload-*`) in the temp folder the server uses."""
    return {p.name for p in Path(tempfile.gettempdir()).glob("labelbay-upload-*")}
