"""Jobs in distributed mode: real PostgreSQL, moto S3, RabbitMQ or Redis, and `labelbay worker`
processes started as subprocesses, killed and restarted, with the broker connection cut under them.

The API side is an in-process app with the Celery executor (it only publishes task ids); the work is
done by the worker processes. Every test has its own queue (and, where it cuts connections, its own
RabbitMQ vhost), deleted at the end, so tests never see each other's messages.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from labelbay.api.app import create_app
from labelbay.db.models import Image, JobTask, Prediction, TaskStatus
from labelbay.jobs.callbacks import SIGNATURE_HEADER, verify
from tests.jobs.helpers import (
    body_json,
    callback_receiver,
    register_yolo,
    small_jpegs,
    upload,
    wait_for_job,
)
from tests.support.moto_server import MotoServer
from tests.support.processes import (
    AMQP_URL,
    Processes,
    delete_queue,
    new_queue,
    settings_env,
    wait_until,
)
from tests.support.stack import Stack, make_settings

REDIS_URL = "redis://127.0.0.1:6379/11"
JOB_TIMEOUT_S = 120.0


@dataclass
class Cluster:
    """One API app (in this process) and the worker processes that serve its queue."""

    stack: Stack
    broker_url: str
    queue: str
    processes: Processes
    headers: dict[str, str] = field(default_factory=dict)
    project: dict[str, Any] = field(default_factory=dict)

    @property
    def workers(self) -> list[subprocess.Popen[bytes]]:
        return self.processes.started

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self.processes.worker()

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        self.processes.kill(proc)

    def worker_logs(self, tail: int = 4000) -> str:
        return self.processes.logs(tail)

    def images(self, count: int) -> list[str]:
        """A user, the YOLO model, a project and `count` uploaded images; returns the image ids."""
        self.headers = self.stack.user("admin@example.com", admin=True)
        register_yolo(self.stack)
        self.project = self.stack.project(self.headers)
        return upload(self.stack, self.headers, self.project["id"], small_jpegs(count))

    def create_job(self, **body: Any) -> dict[str, Any]:
        body = {"model": "yolo", "save_outputs": False, **body}
        answer = self.stack.client.post(
            f"/api/v1/projects/{self.project['id']}/jobs", json=body, headers=self.headers
        )
        assert answer.status_code == 201, answer.text
        job: dict[str, Any] = answer.json()
        return job

    def wait_for_job(self, job_id: int) -> dict[str, Any]:
        try:
            return wait_for_job(self.stack, self.headers, job_id, timeout=JOB_TIMEOUT_S)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.worker_logs()}") from None

    def wait_for_done(self, job_id: int, at_least: int) -> dict[str, int]:
        """Wait until `at_least` tasks are done (and fail at once if any task failed)."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            counts = self.task_counts(job_id)
            assert counts[TaskStatus.failed] == 0, f"{counts}\n{self.worker_logs()}"
            if counts[TaskStatus.done] >= at_least:
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"{at_least} tasks not done: {counts}\n{self.worker_logs()}")
            time.sleep(0.05)

    def task_counts(self, job_id: int) -> dict[str, int]:
        """Tasks per status, read from SQL (the truth), not from the API's cached counts."""
        with self.stack.context.sessions() as session:
            rows = session.execute(
                select(JobTask.status, func.count())
                .where(JobTask.job_id == job_id)
                .group_by(JobTask.status)
            ).all()
        counts = {status.value: 0 for status in TaskStatus}
        counts.update({status: int(n) for status, n in rows})
        return counts

    def predictions(self) -> tuple[int, int]:
        """(prediction rows, images without a prediction)."""
        with self.stack.context.sessions() as session:
            rows = session.scalar(select(func.count(Prediction.id))) or 0
            missing = session.scalar(
                select(func.count(Image.id))
                .outerjoin(Prediction, Prediction.image_id == Image.id)
                .where(Prediction.id.is_(None))
            )
        return rows, missing or 0

    def unsettled_messages(self) -> int:
        """Messages in the queue not yet acked: waiting, or delivered to a worker that has not
        finished them (tasks ack late, after their work). RabbitMQ's own count, via rabbitmqctl."""
        vhost = self.broker_url.rsplit("/", 1)[1] or "/"
        listing = rabbitmqctl(
            "list_queues", "-q", "-p", vhost, "name", "messages_ready", "messages_unacknowledged"
        )
        for line in listing.splitlines():
            name, *counts = line.split()
            if name == self.queue:
                return sum(int(n) for n in counts)
        raise AssertionError(f"queue {self.queue} not found:\n{listing}")


@pytest.fixture
def make_cluster(
    postgres_url: str, moto_s3: MotoServer, s3_bucket: str, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """A factory: `make_cluster(broker_url=..., job_batch_size=...)` → a Cluster with no worker
    started yet. Workers are stopped and the queue deleted at the end of the test."""
    storage_url = f"s3://{s3_bucket}?endpoint={moto_s3.endpoint_url}&region=us-east-1"
    with ExitStack() as cleanup:

        def factory(broker_url: str = AMQP_URL, **overrides: Any) -> Cluster:
            queue = new_queue()
            settings = make_settings(
                postgres_url,
                storage_url,
                executor="celery",
                broker_url=broker_url,
                job_queue=queue,
                model_cache_dir=str(tmp_path / "api-model-cache"),
                callback_allowlist=["127.0.0.1"],
                **overrides,
            )
            app = create_app(settings)
            client = cleanup.enter_context(TestClient(app))
            workdir = tmp_path / queue
            workdir.mkdir()
            env = settings_env(settings)
            # Each worker process downloads the model into a cache folder of its own.
            env["LABELBAY_MODEL_CACHE_DIR"] = str(workdir / "model-cache")
            env["LABELBAY_CALLBACK_BACKOFF_S"] = "0.05"
            env["LABELBAY_TASK_RETRY_BACKOFF_S"] = "0.05"
            processes = Processes(workdir, env)
            stack = Stack(name="celery", settings=settings, app=app, client=client)
            cluster = Cluster(stack, broker_url, queue, processes)
            # Callbacks run last-in first-out: stop the workers, then delete their queue.
            cleanup.callback(delete_queue, broker_url, queue, processes.started)
            cleanup.callback(processes.stop_all)
            return cluster

        yield factory


def rabbitmqctl(*args: str) -> str:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        pytest.fail("rabbitmqctl is needed to cut broker connections (it comes with RabbitMQ)")
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"rabbitmqctl {args}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def rabbit_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own, so cutting its connections touches nothing else."""
    name = f"labelbay-test-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        rabbitmqctl("delete_vhost", name)


def assert_completed_exactly_once(cluster: Cluster, job: dict[str, Any], total: int) -> None:
    assert (job["status"], job["total"], job["done"], job["failed"]) == (
        "completed",
        total,
        total,
        0,
    ), cluster.worker_logs()
    counts = cluster.task_counts(job["id"])
    assert counts[TaskStatus.done] == total, counts
    assert cluster.predictions() == (total, 0)  # one row per image, none missing


def test_a_hundred_images_give_a_hundred_predictions(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(job_batch_size=8)
    cluster.start_worker()  # it starts while the images upload
    cluster.images(100)
    job = cluster.create_job()
    job = cluster.wait_for_job(job["id"])
    assert_completed_exactly_once(cluster, job, 100)
    started, finished = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    assert job["images_per_second"] == round(100 / (finished - started).total_seconds(), 2)
    stages = job["stage_ms"]
    assert set(stages) == {"download", "decode", "infer", "store"}
    assert all(ms > 0 for ms in stages.values()), stages


def test_a_worker_killed_mid_job_loses_and_repeats_nothing(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(job_batch_size=1)  # one message per image: the job takes a while
    first = cluster.start_worker()
    cluster.images(100)
    job = cluster.create_job()
    cluster.wait_for_done(job["id"], at_least=10)
    cluster.kill(first)
    at_kill = cluster.task_counts(job["id"])
    assert 0 < at_kill[TaskStatus.done] < 100, f"the kill came too late to test anything: {at_kill}"

    cluster.start_worker()
    job = cluster.wait_for_job(job["id"])
    assert_completed_exactly_once(cluster, job, 100)
    with cluster.stack.context.sessions() as session:
        jobs_of_predictions = set(session.scalars(select(Prediction.job_id).distinct()))
    assert jobs_of_predictions == {job["id"]}


def test_a_cut_broker_connection_recovers(
    rabbit_vhost: str,  # first: set up before the cluster, so removed after its queue
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(
        broker_url=f"amqp://guest:guest@127.0.0.1:5672/{rabbit_vhost}", job_batch_size=1
    )
    worker = cluster.start_worker()
    cluster.images(100)
    job = cluster.create_job()
    cluster.wait_for_done(job["id"], at_least=5)
    out = rabbitmqctl("close_all_connections", "-p", rabbit_vhost, "test: connection cut")
    assert "Closed" in out, out
    assert cluster.task_counts(job["id"])[TaskStatus.done] < 100, "the cut came too late"

    job = cluster.wait_for_job(job["id"])
    assert_completed_exactly_once(cluster, job, 100)
    assert worker.poll() is None, "the worker should reconnect, not exit"
    logs = cluster.worker_logs(tail=10**6)
    assert "Connection to broker lost" in logs, logs
    assert logs.count("Connected to amqp://") >= 2, "connected, cut, connected again"


@pytest.mark.parametrize("broker_url", [REDIS_URL], ids=["redis"])
def test_redis_as_the_broker(make_cluster: Callable[..., Cluster], broker_url: str) -> None:
    cluster = make_cluster(broker_url=broker_url, job_batch_size=4)
    cluster.start_worker()  # it starts while the images upload
    cluster.images(20)
    job = cluster.create_job()
    job = cluster.wait_for_job(job["id"])
    assert_completed_exactly_once(cluster, job, 20)


def test_the_callback_gets_one_signed_post(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(job_batch_size=4)
    cluster.start_worker()  # it starts while the images upload
    cluster.images(12)
    with callback_receiver() as receiver:
        job = cluster.create_job(callback_url=receiver.url)
        job = cluster.wait_for_job(job["id"])
    assert_completed_exactly_once(cluster, job, 12)
    assert (job["callback_status"], job["callback_attempts"]) == ("delivered", 1)
    assert len(receiver.posts) == 1
    headers, body = receiver.posts[0]
    payload = body_json(body)
    assert (payload["job_id"], payload["status"], payload["done"]) == (job["id"], "completed", 12)
    project = cluster.stack.client.get(
        f"/api/v1/projects/{cluster.project['id']}", headers=cluster.headers
    ).json()
    assert verify(body, project["callback_secret"], headers[SIGNATURE_HEADER])
    assert not verify(body + b" ", project["callback_secret"], headers[SIGNATURE_HEADER])


def test_cancel_stops_the_remaining_tasks(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(job_batch_size=2)
    cluster.start_worker()  # it starts while the images upload
    cluster.images(100)
    job = cluster.create_job()
    cluster.wait_for_done(job["id"], at_least=4)
    answer = cluster.stack.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=cluster.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    at_cancel = cluster.task_counts(job["id"])
    assert at_cancel[TaskStatus.running] <= 2  # at most the one batch the worker had claimed

    # The worker drains the remaining messages: each finds its tasks cancelled and does nothing.
    # Every message acked (tasks ack after their work) means every batch has been handled.
    wait_until(
        "every message to be handled",
        lambda: cluster.unsettled_messages() == 0,
        cluster.worker_logs,
        timeout=JOB_TIMEOUT_S,
    )
    final = cluster.task_counts(job["id"])
    assert final[TaskStatus.cancelled] == at_cancel[TaskStatus.cancelled] > 0, (at_cancel, final)
    assert final[TaskStatus.done] + final[TaskStatus.cancelled] == 100, final
    assert final[TaskStatus.done] == at_cancel[TaskStatus.done] + at_cancel[TaskStatus.running]
    assert final[TaskStatus.failed] == 0
    job = cluster.stack.client.get(f"/api/v1/jobs/{job['id']}", headers=cluster.headers).json()
    assert job["status"] == "cancelled"
    assert cluster.predictions()[0] == final[TaskStatus.done]
