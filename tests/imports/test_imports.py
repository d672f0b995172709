"""Imports from an S3 prefix (moto) and a local folder: reference and copy, incremental re-runs."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from labelbay.cli import app as cli
from labelbay.db.models import Image as ImageRow
from labelbay.db.models import ImportSource
from labelbay.imports.sources import s3_url
from tests.api.factories import jpeg_bytes, png_bytes
from tests.support.fixed_model import register_fixed_models
from tests.support.moto_server import MotoServer
from tests.support.stack import Stack


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    """The moto server is on 127.0.0.1: an administrator allow-lists it, so that a project
    manager may import from it (an S3 endpoint that is not allow-listed needs an administrator)."""
    return {"outbound_allowlist": ["127.0.0.1"]}


def _rows(stack: Stack, project_id: int) -> list[ImageRow]:
    with stack.context.sessions() as session:
        stmt = select(ImageRow).where(ImageRow.project_id == project_id)
        return list(session.scalars(stmt.order_by(ImageRow.source_url)))


def _import(stack: Stack, project_id: int, headers: dict[str, str], **body: Any) -> Any:
    answer = stack.client.post(f"/api/v1/projects/{project_id}/imports", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_s3_prefix_twice_adds_only_new_keys(
    stack: Stack, moto_s3: MotoServer, s3_bucket: str
) -> None:
    s3 = moto_s3.client()
    for key, data in {
        "batch/a.jpg": jpeg_bytes(32, 24, seed=1),
        "batch/sub/b.png": png_bytes(20, 10),
        "batch/notes.txt": b"not an image",
        "batch/broken.jpg": b"\xff\xd8\xff garbage",
        "other/c.jpg": jpeg_bytes(),
    }.items():
        s3.put_object(Bucket=s3_bucket, Key=key, Body=data)
    headers = stack.user("importer@example.com")
    project = stack.project(headers)["id"]
    source = s3_url(s3_bucket, "batch/", endpoint=moto_s3.endpoint_url, region="us-east-1")

    first = _import(stack, project, headers, source_url=source)
    assert (first["added"], first["updated"], first["unchanged"]) == (2, 0, 0)
    assert [r["filename"] for r in first["rejected"]] == ["batch/broken.jpg"]
    rows = _rows(stack, project)
    assert [(r.original_filename, r.external, r.width) for r in rows] == [
        ("a.jpg", True, 32),
        ("b.png", True, 20),
    ]
    assert rows[0].source_url is not None
    assert "/batch/a.jpg?" in rows[0].source_url
    assert stack.object_keys() == set()  # reference mode: nothing copied

    s3.put_object(Bucket=s3_bucket, Key="batch/d.jpg", Body=jpeg_bytes(40, 30, seed=4))
    second = _import(stack, project, headers, source_url=source)
    assert (second["added"], second["updated"], second["unchanged"]) == (1, 0, 2)
    rows = _rows(stack, project)
    assert sorted(r.original_filename for r in rows) == ["a.jpg", "b.png", "d.jpg"]
    assert len({r.source_url for r in rows}) == 3
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="batch/")["Contents"]
    etags = {item["Key"]: item["ETag"] for item in listed}
    assert {r.source_etag for r in rows} == {
        etags[k] for k in ("batch/a.jpg", "batch/sub/b.png", "batch/d.jpg")
    }

    s3.put_object(Bucket=s3_bucket, Key="batch/a.jpg", Body=jpeg_bytes(48, 36, seed=9))
    third = _import(stack, project, headers, source_url=source)
    assert (third["added"], third["updated"], third["unchanged"]) == (0, 1, 2)
    changed = next(r for r in _rows(stack, project) if r.original_filename == "a.jpg")
    assert (changed.width, changed.id) == (48, rows[0].id)  # updated in place, same image

    with stack.context.sessions() as session:
        cursor = session.scalars(select(ImportSource)).one()
        assert (cursor.runs, cursor.imported, cursor.mode) == (3, 3, "reference")

    # The bytes are read from the bucket: through the API, and by a job's worker.
    content = stack.client.get(
        f"/api/v1/images/{changed.id}/content", headers=headers, follow_redirects=False
    )
    if content.status_code == 307:
        content = httpx.get(content.headers["location"])  # the bucket's presigned URL
    assert Image.open(io.BytesIO(content.content)).size == (48, 36)


def test_folder_copy_mode_and_job(stack: Stack, tmp_path: Path) -> None:
    register_fixed_models(stack, tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "one.jpg").write_bytes(jpeg_bytes(32, 24, seed=2))
    admin = stack.user("admin@example.com", admin=True)
    project = stack.project(admin)["id"]
    result = _import(
        stack, project, admin, source_url=str(folder), mode="copy", model="fixed-boxes"
    )
    assert result["added"] == 1
    assert result["job_id"] is not None
    (row,) = _rows(stack, project)
    assert not row.external
    assert stack.object_keys() == {row.storage_key}
    deadline = time.monotonic() + 60
    while True:
        job = stack.client.get(f"/api/v1/jobs/{result['job_id']}", headers=admin).json()
        if job["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (job["status"], job["done"]) == ("completed", 1)
    again = _import(stack, project, admin, source_url=str(folder), mode="copy")
    assert (again["added"], again["unchanged"]) == (0, 1)
    refused = stack.client.post(
        f"/api/v1/projects/{project}/imports",
        json={"source_url": str(folder), "mode": "reference"},
        headers=admin,
    )
    assert refused.status_code == 422  # a source keeps the mode it was imported in


def test_folders_need_an_administrator(stack: Stack, tmp_path: Path) -> None:
    headers = stack.user("manager@example.com")
    project = stack.project(headers)["id"]
    answer = stack.client.post(
        f"/api/v1/projects/{project}/imports",
        json={"source_url": f"file://{tmp_path}"},
        headers=headers,
    )
    assert answer.status_code == 403


def test_cli_import(stack: Stack, tmp_path: Path, monkeypatch: Any) -> None:
    from labelbay.config import get_settings

    folder = tmp_path / "cli"
    folder.mkdir()
    (folder / "x.png").write_bytes(png_bytes())
    headers = stack.user("cli@example.com")
    project = stack.project(headers)["id"]
    monkeypatch.setenv("LABELBAY_DATABASE_URL", stack.settings.database_url)
    monkeypatch.setenv("LABELBAY_STORAGE_URL", stack.settings.storage_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        first = runner.invoke(cli, ["import", str(project), str(folder), "--copy"])
        assert first.exit_code == 0, first.output
        assert "added 1," in first.output
        second = runner.invoke(cli, ["import", str(project), str(folder), "--copy"])
        assert "added 0, updated 0, unchanged 1" in second.output
        missing = runner.invoke(cli, ["import", "999", str(folder)])
        assert missing.exit_code == 1
    finally:
        get_settings.cache_clear()
    assert len(_rows(stack, project)) == 1


def test_reference_image_thumbnail_and_content(stack: Stack, moto_s3: MotoServer) -> None:
    """An image imported by reference is read from its bucket by every reader: its bytes and its
    thumbnail (the image grid's tile) both come back, and nothing is copied into the input."""
    s3 = moto_s3.client()
    bucket = f"source-{uuid.uuid4().hex[:16]}"  # not the stack's own bucket
    s3.create_bucket(Bucket=bucket)
    original = jpeg_bytes(300, 200, seed=5)
    s3.put_object(Bucket=bucket, Key="photos/tile.jpg", Body=original)
    headers = stack.user("viewer-of-refs@example.com")
    project = stack.project(headers)["id"]
    source = s3_url(bucket, "photos/", endpoint=moto_s3.endpoint_url, region="us-east-1")
    assert _import(stack, project, headers, source_url=source)["added"] == 1
    (row,) = _rows(stack, project)
    assert row.external

    content = stack.client.get(
        f"/api/v1/images/{row.id}/content", headers=headers, follow_redirects=False
    )
    if content.status_code == 307:  # S3 sources answer with the bucket's presigned URL
        content = httpx.get(content.headers["location"])
    assert content.status_code == 200, content.text
    assert content.content == original

    thumbnail = stack.client.get(f"/api/v1/images/{row.id}/thumbnail?size=128", headers=headers)
    assert thumbnail.status_code == 200, thumbnail.text
    with Image.open(io.BytesIO(thumbnail.content)) as tile:
        assert (tile.format, tile.size) == ("JPEG", (128, 85))
    assert stack.context.storage.output.exists(f"thumbnails/128/{row.storage_key}")
