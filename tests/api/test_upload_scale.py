"""Uploads at scale and under stress, on both stacks: a 200-file batch, 20 clients at once, and a
client that goes away mid-upload. Afterwards rows and objects must match one to one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.factories import (
    image_part,
    image_rows,
    jpeg_bytes,
    list_all,
    multipart,
    raw_keys,
    raw_object,
    spooled_files,
    upload,
)
from tests.support.stack import LiveServer, Stack

pytestmark = pytest.mark.slow

CLIENTS = 20
FILES_PER_CLIENT = 5


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _assert_rows_and_objects_match(stack: Stack) -> set[str]:
    """No orphans either way: every object has a row and every row has an object."""
    row_keys = [row["storage_key"] for row in image_rows(stack)]
    assert len(row_keys) == len(set(row_keys))
    assert raw_keys(stack) == set(row_keys)
    assert stack.object_keys() == set(row_keys)
    return set(row_keys)


def test_batch_of_200_images_in_one_request(stack: Stack) -> None:
    owner = stack.quick_user("owner@example.com")
    project_id = stack.project(owner)["id"]
    files = {f"batch_{i:03}.jpg": jpeg_bytes(12, 8, seed=i) for i in range(200)}

    answer = upload(stack, project_id, owner, *(image_part(d, n) for n, d in files.items()))

    assert answer.status_code == 201, answer.text[:500]
    body = answer.json()
    assert body["rejected"] == []
    assert sorted(i["original_filename"] for i in body["images"]) == sorted(files)
    keys = _assert_rows_and_objects_match(stack)
    assert len(keys) == 200
    assert keys == {i["storage_key"] for i in body["images"]}
    assert len(list_all(stack, project_id, owner, limit=500)) == 200
    for image in body["images"][::40]:  # spot-check content, re-read independently
        assert raw_object(stack, image["storage_key"]) == files[image["original_filename"]]


def test_20_clients_upload_at_once(live_server: LiveServer) -> None:
    stack = live_server.stack
    owner = stack.quick_user("owner@example.com")
    project_id = stack.project(owner)["id"]
    start = threading.Barrier(CLIENTS)

    def one_client(n: int) -> dict[str, Any]:
        body, content_type = multipart(
            *(
                image_part(jpeg_bytes(10, 10, seed=n * 10 + i), f"c{n:02}_{i}.jpg")
                for i in range(FILES_PER_CLIENT)
            )
        )
        with live_server.client() as client:
            start.wait(timeout=30)
            answer = client.post(
                f"/api/v1/projects/{project_id}/images",
                content=body,
                headers={**owner, "Content-Type": content_type},
            )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one_client, range(CLIENTS)))

    stored = [image for result in results for image in result["images"]]
    assert all(result["rejected"] == [] for result in results)
    assert len(stored) == CLIENTS * FILES_PER_CLIENT
    assert len({i["id"] for i in stored}) == len(stored)
    assert len({i["storage_key"] for i in stored}) == len(stored)
    keys = _assert_rows_and_objects_match(stack)
    assert keys == {i["storage_key"] for i in stored}
    with live_server.client() as client:
        page = client.get(
            f"/api/v1/projects/{project_id}/images",
            params={"with_total": "true", "limit": 1},
            headers=owner,
        ).json()
    assert page["total"] == CLIENTS * FILES_PER_CLIENT


def _post_requests_finished(live_server: LiveServer) -> float:
    """How many POST requests the server has finished (the access middleware counts each at its end)."""
    text = httpx.get(f"{live_server.base_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("labelbay_http_requests_total{") and 'method="POST"' in line
    )


@pytest.mark.parametrize("cut_in", ["first-file", "second-file"])
def test_interrupted_upload_leaves_no_orphan(
    live_server: LiveServer, cut_in: str, spool_dir: Path
) -> None:
    stack = live_server.stack
    owner = stack.quick_user("owner@example.com")
    project_id = stack.project(owner)["id"]
    first, second = jpeg_bytes(40, 30, seed=1), jpeg_bytes(400, 300, seed=2)
    body, content_type = multipart(image_part(first, "first.jpg"), image_part(second, "second.jpg"))
    if cut_in == "first-file":
        cut = body.index(first) + len(first) // 2
    else:
        cut = body.index(second) + len(second) // 2
    finished_before = _post_requests_finished(live_server)
    host, port = live_server.base_url.removeprefix("http://").split(":")
    head = (
        f"POST /api/v1/projects/{project_id}/images HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: {owner['Authorization']}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"  # promises more than will come
        "\r\n"
    ).encode()

    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body[:cut])
        if cut_in == "second-file":
            # The first part is complete (its closing boundary was sent): let the server keep it
            # before the client vanishes, so the test sees a finished file next to a half one.
            _wait_for(lambda: len(image_rows(stack)) == 1, "the first file to be stored")
        sock.shutdown(socket.SHUT_RDWR)

    _wait_for(
        lambda: _post_requests_finished(live_server) > finished_before,
        "the server to finish the interrupted request",
    )
    _wait_for(lambda: spooled_files() == set(), "temporary files to be removed", 10)

    keys = _assert_rows_and_objects_match(stack)
    rows = image_rows(stack)
    if cut_in == "first-file":
        assert keys == set()
    else:
        assert [r["original_filename"] for r in rows] == ["first.jpg"]
        [key] = keys
        assert raw_object(stack, key) == first
    assert "second.jpg" not in {r["original_filename"] for r in rows}
    assert spooled_files() == set()


_REFUSE_IMAGE_ROWS = {
    "sqlite": [
        "CREATE TRIGGER refuse_images BEFORE INSERT ON images "
        "BEGIN SELECT RAISE(ABORT, 'simulated database failure'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_images() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'simulated database failure'; END $$",
        "CREATE TRIGGER refuse_images BEFORE INSERT ON images "
        "FOR EACH ROW EXECUTE FUNCTION refuse_images()",
    ],
}


def test_failure_after_the_object_is_written_leaves_no_orphan(
    stack: Stack, spool_dir: Path
) -> None:
    """The object goes up first, then its row; when the row cannot be written (here the database
    itself refuses it) the object must be removed again."""
    owner = stack.quick_user("owner@example.com")
    project_id = stack.project(owner)["id"]
    engine = stack.context.engine
    with engine.begin() as conn:
        for statement in _REFUSE_IMAGE_ROWS[engine.dialect.name]:
            conn.exec_driver_sql(statement)
    body, content_type = multipart(image_part(jpeg_bytes(), "doomed.jpg"))

    # A second client on the same (already started) app, answering 500 instead of raising.
    client = TestClient(stack.app, raise_server_exceptions=False)
    answer = client.post(
        f"/api/v1/projects/{project_id}/images",
        content=body,
        headers={**owner, "Content-Type": content_type},
    )

    assert answer.status_code == 500
    assert image_rows(stack) == []
    assert raw_keys(stack) == set()
    assert spooled_files() == set()
