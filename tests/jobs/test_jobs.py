"""Jobs end to end with a real YOLOv8 model, on both stacks and both executors: the embedded
stack runs them on the in-process pool; the distributed one (PostgreSQL + S3) publishes them to a
RabbitMQ queue of this test's own, served by a real `labelbay worker` process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from labelbay.db.models import Image, JobTask, Prediction
from labelbay.jobs.callbacks import verify
from labelbay.jobs.service import task_ids
from labelbay.jobs.tasks import process_batch
from labelbay.services import models
from tests.jobs.helpers import (
    body_json,
    callback_receiver,
    photo_jpegs,
    register_yolo,
    upload,
    wait_for_job,
)
from tests.support.processes import AMQP_URL, Processes, delete_queue, new_queue
from tests.support.review_state import assert_copies_follow
from tests.support.stack import Stack


@pytest.fixture
def stack_settings_overrides(stack_urls: tuple[str, str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "callback_allowlist": ["127.0.0.1"],
        "callback_backoff_s": 0.01,
        "task_retry_backoff_s": 0.01,
        "job_batch_size": 4,
    }
    if stack_urls[0] == "distributed":
        overrides.update(executor="celery", broker_url=AMQP_URL, job_queue=new_queue())
    return overrides


@pytest.fixture(autouse=True)
def worker(stack: Stack, processes: Callable[..., Processes]) -> Iterator[Processes | None]:
    """On the distributed stack, one `labelbay worker` process with the stack's settings."""
    if stack.settings.executor != "celery":
        yield None
        return
    group = processes(stack.settings)
    group.worker()
    yield group
    group.stop_all()
    delete_queue(stack.settings.broker_url, stack.settings.job_queue, group.started)


def prediction_count(stack: Stack) -> int:
    with stack.context.sessions() as session:
        return session.scalar(select(func.count(Prediction.id))) or 0


def test_job_labels_every_image_once_and_calls_back(stack: Stack, worker: Processes | None) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    project = stack.project(admin)
    image_ids = upload(stack, admin, project["id"], photo_jpegs(12))
    with callback_receiver() as receiver:
        answer = stack.client.post(
            f"/api/v1/projects/{project['id']}/jobs",
            json={"model": "yolo", "callback_url": receiver.url},
            headers=admin,
        )
        assert answer.status_code == 201, answer.text
        job = wait_for_job(stack, admin, answer.json()["id"])
    assert (job["status"], job["done"], job["failed"], job["total"]) == ("completed", 12, 0, 12)
    assert prediction_count(stack) == 12
    assert job["callback_status"] == "delivered"
    assert len(receiver.posts) == 1
    headers, body = receiver.posts[0]
    secret = stack.client.get(f"/api/v1/projects/{project['id']}", headers=admin).json()
    assert body_json(body)["job_id"] == job["id"]
    assert "callback_secret" in secret, "managers can read the project's callback secret"
    assert verify(body, secret["callback_secret"], headers["X-Signature-256"])

    results = stack.client.get(f"/api/v1/jobs/{job['id']}/results?limit=50", headers=admin).json()
    assert {r["image_id"] for r in results["results"]} == set(image_ids)
    with_faces = [r for r in results["results"] if r["labels"]]
    # Every fourth upload (0, 4, 8) is a flat grey frame: the 9 astronauts have detections.
    astronauts = {image_id for i, image_id in enumerate(image_ids) if i % 4}
    assert {r["image_id"] for r in with_faces} == astronauts
    rendered = list(stack.context.storage.output.list(""))
    nolabel = list(stack.context.storage.nolabel.list(""))
    assert len(rendered) == len(with_faces)
    assert len(nolabel) == 12 - len(with_faces)
    if worker is not None:
        # The worker process did the work, in 8 batches of 1 or 2: at most `job_batch_size` (4)
        # images each, and at least MIN_BATCHES (8) batches where there are the images.
        lines = worker.logs(tail=10**6).splitlines()
        handled = [line for line in lines if "process_batch[" in line and " succeeded in " in line]
        assert len(handled) == 8, worker.logs()


def test_running_a_batch_twice_changes_nothing(stack: Stack) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    project = stack.project(admin)
    upload(stack, admin, project["id"], photo_jpegs(4))
    job = stack.client.post(
        f"/api/v1/projects/{project['id']}/jobs", json={"model": "yolo"}, headers=admin
    ).json()
    job = wait_for_job(stack, admin, job["id"])
    with stack.context.sessions() as session:
        ids = task_ids(session, job_id=job["id"], statuses=["done"])
    assert process_batch(stack.context.runtime, ids) == 0  # done tasks are not claimed again
    assert prediction_count(stack) == 4


def test_predictions_take_their_images_review_state_and_a_rerun_keeps_it(stack: Stack) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    project = stack.project(admin)
    ids = upload(stack, admin, project["id"], photo_jpegs(4))

    def verdict(image_id: str, status: str) -> None:
        body = {"status": status, "reason": "fix it" if status == "rejected" else None}
        answer = stack.client.post(f"/api/v1/images/{image_id}/review", json=body, headers=admin)
        assert answer.status_code == 200, answer.text

    def run_job() -> None:
        answer = stack.client.post(
            f"/api/v1/projects/{project['id']}/jobs", json={"model": "yolo"}, headers=admin
        )
        assert wait_for_job(stack, admin, answer.json()["id"])["status"] == "completed"

    verdict(ids[0], "reviewed")
    verdict(ids[1], "rejected")
    run_job()  # new rows take the state
    assert_copies_follow(stack, project["id"], ["reviewed", "rejected", "unreviewed"])
    verdict(ids[0], "unreviewed")
    verdict(ids[2], "reviewed")
    run_job()  # a re-run overwrites the labels, not the state
    assert prediction_count(stack) == 4
    assert_copies_follow(stack, project["id"], ["reviewed", "rejected", "unreviewed"])


def test_an_unreadable_image_fails_alone_and_the_job_counts_it(stack: Stack) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    project = stack.project(admin)
    image_ids = upload(stack, admin, project["id"], photo_jpegs(6))
    with stack.context.sessions() as session:
        key = session.get_one(Image, uuid.UUID(image_ids[1])).storage_key
    stack.context.storage.input.put(key, b"no longer a JPEG", content_type="image/jpeg")
    job = stack.client.post(
        f"/api/v1/projects/{project['id']}/jobs", json={"model": "yolo"}, headers=admin
    ).json()
    job = wait_for_job(stack, admin, job["id"])
    # Batches of 4: the first stores three predictions and one failure together.
    assert (job["status"], job["done"], job["failed"], job["total"]) == ("completed", 5, 1, 6)
    results = stack.client.get(f"/api/v1/jobs/{job['id']}/results?limit=50", headers=admin).json()
    failed = [r for r in results["results"] if r["status"] == "failed"]
    assert [r["image_id"] for r in failed] == [image_ids[1]]
    assert "cannot decode" in failed[0]["error"]
    assert prediction_count(stack) == 5


def test_failing_callback_is_retried_then_recorded(stack: Stack) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    project = stack.project(admin)
    upload(stack, admin, project["id"], photo_jpegs(2))
    with callback_receiver(always_fail=True) as receiver:
        job = stack.client.post(
            f"/api/v1/projects/{project['id']}/jobs",
            json={"model": "yolo", "callback_url": receiver.url},
            headers=admin,
        ).json()
        job = wait_for_job(stack, admin, job["id"])
    max_attempts = stack.settings.callback_max_attempts
    assert len(receiver.posts) == max_attempts
    assert (job["callback_status"], job["callback_attempts"]) == ("failed", max_attempts)
    assert job["callback_error"] == "HTTP 500"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "no-such-model"}, "model no-such-model: no active version"),
        (
            {"model": "yolo", "callback_url": "http://10.1.2.3/hook"},
            "callback_url: '10.1.2.3' resolves to 10.1.2.3, a private or reserved address; "
            "an administrator can allow-list it in LABELBAY_OUTBOUND_ALLOWLIST",
        ),
        (
            {"model": "yolo", "callback_url": "ftp://example.com/x"},
            "callback_url: the URL must be http:// or https:// with a host",
        ),
        ({"model": "yolo", "image_ids": []}, "image_ids is empty"),
        ({"model": "yolo", "metadata": {"camera": "none"}}, "the selection has no images"),
    ],
)
def test_bad_job_requests(stack: Stack, body: dict[str, Any], message: str) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    project = stack.project(admin)
    upload(stack, admin, project["id"], photo_jpegs(1))
    answer = stack.client.post(f"/api/v1/projects/{project['id']}/jobs", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == message


@pytest.mark.parametrize(
    "stack_settings_overrides",
    # A retry that borrowed the callback's backoff would wait 30 s, then 60 s: past the deadline.
    [{"task_retry_backoff_s": 0.01, "callback_backoff_s": 30.0, "task_max_attempts": 3}],
)
def test_a_failing_batch_is_retried_with_its_own_backoff(stack: Stack) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_yolo(stack)
    with stack.context.sessions() as session:
        (row,) = models.list_versions(session, name="yolo")
    stack.context.storage.models.delete(row.artifact_key or "")  # the model can no longer load
    project = stack.project(admin)
    upload(stack, admin, project["id"], photo_jpegs(2))
    answer = stack.client.post(
        f"/api/v1/projects/{project['id']}/jobs", json={"model": "yolo"}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    job = wait_for_job(stack, admin, answer.json()["id"], timeout=20)
    assert (job["status"], job["failed"], job["done"]) == ("failed", 2, 0)
    assert "ObjectNotFound" in job["errors"][0]["error"]
    with stack.context.sessions() as session:
        attempts = session.scalars(
            select(JobTask.attempts).where(JobTask.job_id == job["id"])
        ).all()
    assert list(attempts) == [3, 3]
