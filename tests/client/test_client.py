"""`labelbay.client.Client` as a program uses it: against a live uvicorn for what the server does
today, and against a scripted HTTP server for what it may answer (retries, a 202 to follow)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from labelbay.client import ApiError, Client, JobFailed, ServerUnreachable
from labelbay.client.folder import scan_folder, upload_folder
from tests.client.helpers import make_remote, photo_folder
from tests.support.stack import LiveServer, free_port

EMBEDDED = pytest.mark.parametrize("stack_urls", ["embedded"], indirect=True)

Reply = tuple[int, dict[str, str], Any]
REPORT = {
    "images_in_file": 2,
    "images_matched": 2,
    "added": 5,
    "unchanged": 0,
    "problems": [{"place": "annotations[3]", "reason": "box outside the image"}],
    "unmatched": [],
}
JOB = {
    "id": 1, "project_id": 1, "model": "circles", "model_version": "1", "status": "running",
    "total": 4, "done": 1, "failed": 0, "images_per_second": None, "stage_ms": {}, "errors": [],
    "callback_url": None, "callback_status": None, "callback_attempts": 0, "callback_error": None,
    "created_at": "2026-01-01T00:00:00Z", "started_at": None, "finished_at": None,
}  # fmt: skip


class Scripted:
    """An HTTP server on 127.0.0.1 that answers each (method, path) from a list of replies (the
    last one repeats) and records what it was sent."""

    def __init__(self, script: dict[tuple[str, str], list[Reply]]) -> None:
        self.script = script
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                owner.seen.append((self.command, self.path, dict(self.headers), body))
                replies = owner.script.get((self.command, self.path.split("?")[0]))
                status, headers, payload = (
                    (replies.pop(0) if len(replies) > 1 else replies[0])
                    if replies
                    else (404, {}, {"detail": "Not Found"})
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.answer()

            def do_POST(self) -> None:
                self.answer()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hits(self, method: str, path: str) -> int:
        return sum(1 for m, p, _h, _b in self.seen if m == method and p.split("?")[0] == path)


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    made: list[Scripted] = []
    yield made
    for server in made:
        server.server.shutdown()
        server.server.server_close()


def test_only_gets_are_retried(scripted: list[Scripted]) -> None:
    busy: Reply = (503, {"Retry-After": "0"}, {"detail": "busy"})
    server = Scripted(
        {
            ("GET", "/api/v1/jobs/1"): [busy, busy, (200, {}, JOB)],
            ("POST", "/api/v1/jobs/1/cancel"): [busy, (200, {}, JOB)],
        }
    )
    scripted.append(server)
    with Client(server.url, "lbk_scripted", backoff_s=0.01) as client:
        job = client.job(1)
        assert (job.id, job.status, job.done, job.finished) == (1, "running", 1, False)
        assert server.hits("GET", "/api/v1/jobs/1") == 3
        with pytest.raises(ApiError) as refused:
            client.cancel_job(1)
    assert server.hits("POST", "/api/v1/jobs/1/cancel") == 1  # a POST is never repeated
    assert (refused.value.status_code, refused.value.detail) == (503, "busy")
    assert str(refused.value) == "POST /api/v1/jobs/1/cancel: 503 busy"
    assert server.seen[0][2]["Authorization"] == "Bearer lbk_scripted"


def test_a_label_import_run_as_a_job_is_followed_to_its_report(
    scripted: list[Scripted], tmp_path: Path
) -> None:
    """A label import that answers 202 with its job, as the job-based import does (the multipart
    field `files`; counts in the job's `progress`, lists in its `report`, on `GET /jobs/{id}`)."""
    import_path = "/api/v1/projects/1/labels/import"
    counts = {
        "records": 9, "images_in_file": 2, "images_matched": 2, "images_added": 1,
        "labels_added": 5, "unchanged": 0, "problems": 1500, "unmatched": 0,
    }  # fmt: skip
    finished = {
        **JOB, "id": 7, "kind": "label_import", "model": None, "model_version": None,
        "status": "completed", "progress": counts, "report": {"problems": REPORT["problems"]},
    }  # fmt: skip
    server = Scripted(
        {
            ("POST", import_path): [(202, {}, {**JOB, "id": 7, "status": "queued"})],
            ("GET", "/api/v1/jobs/7"): [
                (200, {}, {**JOB, "id": 7, "status": "running", "progress": {"records": 3}}),
                (200, {}, finished),
            ],
        }
    )
    scripted.append(server)
    labels = tmp_path / "labels.zip"
    labels.write_bytes(b"PK\x05\x06" + bytes(18))
    seen: list[str] = []
    with Client(server.url, "lbk_scripted") as client:
        report = client.import_labels(
            1, labels, format="yolo", target="predictions", model="theirs", with_images=True,
            poll_s=0.01, on_status=lambda state: seen.append(state["status"]),
        )  # fmt: skip
        job = client.job(7)
    assert (report.images_matched, report.images_added, report.added) == (2, 1, 5)
    assert [(p.place, p.reason) for p in report.problems] == [
        ("annotations[3]", "box outside the image")
    ]
    assert (report.problem_count, report.unmatched, report.unmatched_count) == (1500, [], 0)
    assert seen == ["running", "completed"]
    assert (job.model, job.status) == (None, "completed")  # an import job reads as a Job too
    _method, _path, headers, body = server.seen[0]
    assert headers["Content-Type"].startswith("multipart/form-data")
    for part in (
        b'name="format"\r\n\r\nyolo',
        b'name="model"\r\n\r\ntheirs',
        b'name="with_images"\r\n\r\ntrue',
        b'name="files"; filename="labels.zip"',
    ):
        assert part in body


def test_a_202_is_followed_where_the_server_says_and_a_failure_raises(
    scripted: list[Scripted], tmp_path: Path
) -> None:
    import_path = "/api/v1/projects/1/labels/import"
    server = Scripted(
        {
            ("POST", import_path): [(202, {"Location": "/api/v1/label-imports/7"}, {})],
            ("GET", "/api/v1/label-imports/7"): [
                (200, {}, {"status": "queued"}),
                (200, {}, {"status": "completed", "report": REPORT}),
            ],
        }
    )
    scripted.append(server)
    labels = tmp_path / "labels.json"
    labels.write_text('{"images": []}')
    with Client(server.url, "lbk_scripted") as client:
        report = client.import_labels(1, labels, format="coco", poll_s=0.01)
    assert (report.added, report.problem_count) == (5, 1)

    server = Scripted(
        {
            ("POST", import_path): [(202, {}, {"status_url": "/imports/8", "status": "queued"})],
            ("GET", "/imports/8"): [(200, {}, {"status": "failed", "error": "not a COCO file"})],
        }
    )
    scripted.append(server)
    with Client(server.url, "lbk_scripted") as client, pytest.raises(JobFailed) as failed:
        client.import_labels(1, labels, format="coco", poll_s=0.01)
    assert str(failed.value) == "the label import failed: not a COCO file"


@EMBEDDED
def test_errors_carry_the_servers_status_and_words(live_server: LiveServer) -> None:
    remote = make_remote(live_server)
    with Client(remote.url, remote.key) as client:
        assert client.me().email == "owner@example.com"
        assert "lbk_" not in repr(client)
        with pytest.raises(ApiError) as missing:
            client.project(424242)
        assert missing.value.status_code == 404
        assert "424242" in missing.value.detail
        with pytest.raises(ApiError) as invalid:
            client.start_job(1, model="")
        assert invalid.value.status_code in (404, 422)
    with Client(remote.url, "lbk_not-a-key") as stranger, pytest.raises(ApiError) as refused:
        stranger.projects()
    assert refused.value.status_code == 401
    down = f"http://127.0.0.1:{free_port()}"
    client = Client(down, remote.key, retries=1, backoff_s=0.01)
    with client, pytest.raises(ServerUnreachable) as unreachable:
        client.projects()
    assert unreachable.value.url == down
    assert remote.key not in str(unreachable.value)


@EMBEDDED
def test_a_folder_upload_sends_each_content_once_and_reports_refusals(
    live_server: LiveServer, tmp_path: Path
) -> None:
    remote = make_remote(live_server)
    project = live_server.stack.project(remote.headers)
    folder = photo_folder(tmp_path)
    shutil.copy(folder / "coins.png", folder / "more" / "coins-again.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 then nothing")
    scan = scan_folder(folder)
    assert [p.name for p in scan.not_images] == ["notes.txt"]
    progress: list[int] = []
    with Client(remote.url, remote.key) as client:
        first = upload_folder(client, project["id"], scan, batch_files=2, on_bytes=progress.append)
        again = upload_folder(client, project["id"], scan, batch_files=2)
    assert (first.stored, first.already_there) == (3, 0)
    assert [(a.name, b.name) for a, b in first.duplicates] == [("coins-again.png", "coins.png")]
    # The copy's content is in the project now: the second run counts it as already there.
    assert (again.stored, again.already_there, again.duplicates) == (0, 4, [])
    # The server judges content: a broken JPEG is refused, each time it is sent.
    assert [r.filename for r in first.rejected] == [r.filename for r in again.rejected]
    assert [r.filename for r in first.rejected] == ["broken.jpg"]
    assert sum(progress) == scan.image_bytes  # every byte sent or skipped, each once
    stored = remote.get(f"/api/v1/projects/{project['id']}/images")["images"]
    assert sorted(i["original_filename"] for i in stored) == [
        "chelsea.jpg", "coffee.jpg", "coins.png",
    ]  # fmt: skip
