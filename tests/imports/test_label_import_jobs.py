"""Label imports as jobs, on both executors: the embedded stack runs them on the in-process pool;
the distributed one (PostgreSQL + S3) publishes them to a RabbitMQ queue of this test's own,
served by a real `labelbay worker` process. Files come as a zip with images, from an S3 prefix
(moto) and from a server folder; images are matched by name, then by their bytes."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labelbay.imports.sources import s3_url
from tests.api.factories import image_part, jpeg_bytes, png_bytes, upload_ok
from tests.jobs.helpers import wait_for_job
from tests.support.moto_server import MotoServer
from tests.support.processes import AMQP_URL, Processes, delete_queue, new_queue
from tests.support.stack import Stack


@pytest.fixture
def stack_settings_overrides(stack_urls: tuple[str, str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {"outbound_allowlist": ["127.0.0.1"], "task_retry_backoff_s": 0.01}
    if stack_urls[0] == "distributed":
        overrides.update(executor="celery", broker_url=AMQP_URL, job_queue=new_queue())
    return overrides


@pytest.fixture(autouse=True)
def worker(stack: Stack, processes: Callable[..., Processes]) -> Iterator[Processes | None]:
    if stack.settings.executor != "celery":
        yield None
        return
    group = processes(stack.settings)
    group.worker()
    yield group
    group.stop_all()
    delete_queue(stack.settings.broker_url, stack.settings.job_queue, group.started)


def _coco(boxes: dict[str, list[list[float]]]) -> bytes:
    names = sorted(boxes)
    return json.dumps(
        {
            "images": [{"id": i + 1, "file_name": n} for i, n in enumerate(names)],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [
                {"id": len(names) * 10 + k, "image_id": i + 1, "category_id": 1, "bbox": b}
                for i, n in enumerate(names)
                for k, b in enumerate(boxes[n])
            ],
        }
    ).encode()


def _run(
    stack: Stack, headers: dict[str, str], project_id: int, files: Any = None, **form: Any
) -> dict[str, Any]:
    answer = stack.client.post(
        f"/api/v1/projects/{project_id}/labels/import", files=files, data=form, headers=headers
    )
    assert answer.status_code == 202, answer.text
    job = wait_for_job(stack, headers, answer.json()["id"])
    assert job["status"] == "completed", job
    return job


def _images(stack: Stack, headers: dict[str, str], project_id: int) -> dict[str, dict[str, Any]]:
    answer = stack.client.get(f"/api/v1/projects/{project_id}/images", headers=headers)
    return {i["original_filename"]: i for i in answer.json()["images"]}


def _boxes(stack: Stack, headers: dict[str, str], image_id: str) -> list[tuple[Any, ...]]:
    rows = stack.client.get(f"/api/v1/images/{image_id}/annotations", headers=headers).json()
    return sorted((a["id"], a["label"], *a["geometry"].values()) for a in rows)


def test_zip_with_images_matches_by_content_stores_the_rest_and_a_rerun_changes_nothing(
    stack: Stack,
) -> None:
    headers = stack.user("labeller@example.com")
    project = stack.project(headers, labels=["cat"])["id"]
    same, new, extra = (jpeg_bytes(64, 48, seed=s) for s in (1, 2, 3))
    upload_ok(stack, project, headers, image_part(same, "orig.jpg"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("images/renamed.jpg", same)  # the project's orig.jpg, under another name
        z.writestr("images/new.jpg", new)
        z.writestr("images/extra.jpg", extra)  # no label names it: stored all the same
        z.writestr(
            "annotations.json",
            _coco({"renamed.jpg": [[1, 2, 10, 10]], "new.jpg": [[5, 5, 20, 20], [30, 30, 9, 9]]}),
        )
    files = [("files", ("dataset.zip", archive.getvalue()))]
    job = _run(stack, headers, project, files, format="coco", with_images="true")
    assert job["kind"] == "label_import"
    assert job["model"] is None
    progress = job["progress"]
    assert (progress["images_matched"], progress["images_added"]) == (2, 2)
    assert (progress["labels_added"], progress["problems"], progress["unmatched"]) == (3, 0, 0)
    images = _images(stack, headers, project)
    assert sorted(images) == ["extra.jpg", "new.jpg", "orig.jpg"]
    before = {name: _boxes(stack, headers, image["id"]) for name, image in images.items()}
    assert [b[1:] for b in before["orig.jpg"]] == [("cat", 1.0, 2.0, 11.0, 12.0)]
    assert len(before["new.jpg"]) == 2
    assert before["extra.jpg"] == []

    again = _run(stack, headers, project, files, format="coco", with_images="true")
    assert (again["progress"]["labels_added"], again["progress"]["unchanged"]) == (0, 3)
    assert again["progress"]["images_added"] == 0
    assert _images(stack, headers, project).keys() == images.keys()
    after = {name: _boxes(stack, headers, image["id"]) for name, image in images.items()}
    assert after == before  # same rows, same ids


def test_s3_prefix_with_images_as_predictions(
    stack: Stack, moto_s3: MotoServer, s3_bucket: str
) -> None:
    headers = stack.user("importer@example.com")
    project = stack.project(headers, labels=["cat"])["id"]
    s3 = moto_s3.client()
    s3.put_object(Bucket=s3_bucket, Key="set/img/a.jpg", Body=jpeg_bytes(40, 30, seed=5))
    results = [{"image_id": "a.jpg", "category_id": "cat", "bbox": [2, 3, 10, 8], "score": 0.75}]
    s3.put_object(Bucket=s3_bucket, Key="set/results.json", Body=json.dumps(results).encode())
    source = s3_url(s3_bucket, "set/", endpoint=moto_s3.endpoint_url, region="us-east-1")
    form = {"source_url": source, "format": "coco", "target": "predictions", "model": "ext"}
    job = _run(stack, headers, project, with_images="true", **form)
    assert (job["model"], job["progress"]["images_added"], job["progress"]["labels_added"]) == (
        "ext",
        1,
        1,
    )
    (image,) = _images(stack, headers, project).values()
    predictions = stack.client.get(f"/api/v1/images/{image['id']}/predictions", headers=headers)
    (found,) = [x for p in predictions.json() for x in p["labels"]]
    assert (found["label"], found["score"]) == ("cat", 0.75)
    assert found["geometry"] == {"x1": 2.0, "y1": 3.0, "x2": 12.0, "y2": 11.0}
    again = _run(stack, headers, project, with_images="true", **form)
    assert (again["progress"]["labels_added"], again["progress"]["unchanged"]) == (0, 1)
    assert len(_images(stack, headers, project)) == 1


def test_server_folder_needs_an_administrator(stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "yolo"
    (folder / "labels").mkdir(parents=True)
    (folder / "images").mkdir()
    (folder / "data.yaml").write_text("names:\n  0: cat\n")
    (folder / "labels" / "b.txt").write_text("0 0.5 0.5 0.5 0.5\n0 0.5 0.5\n")
    (folder / "images" / "b.png").write_bytes(png_bytes(40, 20))
    owner = stack.user("owner@example.com")
    project = stack.project(owner, labels=["cat"])["id"]
    refused = stack.client.post(
        f"/api/v1/projects/{project}/labels/import",
        data={"source_url": folder.as_uri(), "format": "yolo"},
        headers=owner,
    )
    assert refused.status_code == 403, refused.text
    admin = stack.user("admin@example.com", admin=True)
    job = _run(stack, admin, project, source_url=folder.as_uri(), format="yolo", with_images="true")
    assert job["report"]["problems"] == [
        {
            "place": "labels/b.txt:2",
            "reason": "a line is `class cx cy w h` or a polygon, not 2 numbers",
        }
    ]
    (image,) = _images(stack, admin, project).values()
    assert [b[1:] for b in _boxes(stack, admin, image["id"])] == [("cat", 10.0, 5.0, 30.0, 15.0)]


def test_problems_are_listed_up_to_a_cap_and_counted_exactly(stack: Stack) -> None:
    headers = stack.user("many@example.com")
    project = stack.project(headers, labels=["cat"])["id"]
    upload_ok(stack, project, headers, image_part(jpeg_bytes(32, 32), "a.jpg"))
    bad = [{"image_id": "a.jpg", "category_id": "cat"} for _ in range(1200)]
    good = [{"image_id": "a.jpg", "category_id": "cat", "bbox": [1, 1, 5, 5]}]
    files = [("files", ("r.json", json.dumps(bad + good).encode()))]
    job = _run(stack, headers, project, files, format="coco")
    assert (job["progress"]["problems"], job["progress"]["labels_added"]) == (1200, 1)
    problems = job["report"]["problems"]
    assert len(problems) == 1000
    assert problems[0]["place"] == "r.json#/0"
    assert "bbox" in problems[0]["reason"]
    listed = stack.client.get(f"/api/v1/projects/{project}/jobs", headers=headers).json()
    assert listed[0]["progress"]["problems"] == 1200
    assert listed[0]["report"] is None
