"""Jobs in distributed mode: real PostgreSQL, moto S3, RabbitMQ or Redis, and `labelbay worker`
processes started as subprocesses, killed and restarted, with the broker connection cut under them.

The API side is an in-process app with the Celery executor (it only publishes task ids); the work is
done by the worker processes. Every test has its own queue (and, where it cuts connections, its own
RabbitMQ vhost), deleted at the end, so tests never see each other's messages.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from kombu import Connection
from PIL import Image as PILImage
from skimage import data as samples
from sqlalchemy import func, select

from labelbay.api.app import create_app
from labelbay.db.models import Image, JobTask, Prediction, TaskStatus
from labelbay.jobs.callbacks import SIGNATURE_HEADER, verify
from tests.jobs.helpers import body_json, callback_receiver, register_yolo, upload, wait_for_job
from tests.support.moto_server import DUMMY_CREDENTIALS, MotoServer
from tests.support.stack import Stack, make_settings

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
REDIS_URL = "redis://127.0.0.1:6379/11"
LABELBAY = str(Path(sys.executable).with_name("labelbay"))
JOB_TIMEOUT_S = 120.0


def small_jpegs(count: int) -> list[bytes]:
    """160x120 JPEGs: three in four show the astronaut (the YOLO fixture finds something), the
    rest are flat grey (nothing found). Small, so the tests measure the queue, not the model."""
    astronaut = np.asarray(PILImage.fromarray(samples.astronaut()).resize((160, 120)))
    grey = np.full((120, 160, 3), 128, np.uint8)
    out = []
    for i in range(count):
        buf = io.BytesIO()
        PILImage.fromarray(astronaut if i % 4 else grey).save(buf, "JPEG", quality=80 + i % 15)
        out.append(buf.getvalue())
    return out


def wait_until(what: str, check: Callable[[], bool], cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{cluster.worker_logs()}")
        time.sleep(0.05)


@dataclass
class Cluster:
    """One API app (in this process) and the worker processes that serve its queue."""

    stack: Stack
    broker_url: str
    queue: str
    env: dict[str, str]
    workdir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    project: dict[str, Any] = field(default_factory=dict)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"worker-{len(self.workers)}.log").open("wb")
        with log:
            proc = subprocess.Popen(
                [LABELBAY, "worker", "--concurrency", "1"],
                env=self.env,
                cwd=self.workdir,  # no stray .env is read
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the pool child dies with it
            )
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool process at once, as an OOM kill or a lost node would."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """The test is over: no need for a graceful shutdown (it takes seconds)."""
        for proc in self.workers:
            if proc.poll() is None:
                self.kill(proc)

    def worker_logs(self, tail: int = 4000) -> str:
        parts = []
        for path in sorted(self.workdir.glob("worker-*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

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

    def ready_messages(self) -> int:
        with Connection(self.broker_url) as conn:
            _, count, _ = conn.default_channel.queue_declare(self.queue, passive=True)
        return int(count)


@pytest.fixture
def make_cluster(
    postgres_url: str, moto_s3: MotoServer, s3_bucket: str, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """A factory: `make_cluster(broker_url=..., job_batch_size=...)` → a Cluster with no worker
    started yet. Workers are stopped and the queue deleted at the end of the test."""
    storage_url = f"s3://{s3_bucket}?endpoint={moto_s3.endpoint_url}&region=us-east-1"
    with ExitStack() as cleanup:

        def factory(broker_url: str = AMQP_URL, **overrides: Any) -> Cluster:
            queue = f"labelbay-test-{uuid.uuid4().hex[:12]}"
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
            env = {k: v for k, v in os.environ.items() if not k.startswith("LABELBAY_")}
            env.update(DUMMY_CREDENTIALS)
            env.update(
                {
                    "LABELBAY_DATABASE_URL": postgres_url,
                    "LABELBAY_STORAGE_URL": storage_url,
                    "LABELBAY_BROKER_URL": broker_url,
                    "LABELBAY_JOB_QUEUE": queue,
                    "LABELBAY_EXECUTOR": "celery",
                    "LABELBAY_MODEL_CACHE_DIR": str(workdir / "model-cache"),
                    "LABELBAY_CALLBACK_ALLOWLIST": '["127.0.0.1"]',
                    "LABELBAY_CALLBACK_BACKOFF_S": "0.05",
                    "LABELBAY_TASK_RETRY_BACKOFF_S": "0.05",
                    "LABELBAY_LOG_JSON": "false",
                    "LABELBAY_ENVIRONMENT": "test",
                }
            )
            stack = Stack(name="celery", settings=settings, app=app, client=client)
            cluster = Cluster(stack, broker_url, queue, env, workdir)
            # Callbacks run last-in first-out: stop the workers, then delete their queue.
            cleanup.callback(_delete_queue, broker_url, queue, cluster.workers)
            cleanup.callback(cluster.stop_all)
            return cluster

        yield factory


def _delete_queue(broker_url: str, queue: str, workers: list[subprocess.Popen[bytes]]) -> None:
    """Delete the test queue and the direct exchange Celery declared for it."""
    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.default_channel
        channel.queue_delete(queue)
        if broker_url.startswith("amqp"):
            channel.exchange_delete(queue)
    if broker_url.startswith("redis"):
        _delete_redis_leftovers(broker_url, queue, [f"labelbay-{proc.pid}@" for proc in workers])


def _delete_redis_leftovers(broker_url: str, queue: str, nodes: list[str]) -> None:
    """kombu's Redis transport keeps, besides the queue's list, the exchange's bindings, the
    workers' remote-control bindings and the messages a killed worker had not acked yet (it gets
    them back after the visibility timeout) in keys shared by every queue of the database."""
    with redis.Redis.from_url(broker_url) as client:
        client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for member in client.smembers("_kombu.binding.celery.pidbox"):
            if any(node.encode() in member for node in nodes):
                client.srem("_kombu.binding.celery.pidbox", member)
        for tag, raw in client.hgetall("unacked").items():
            _message, exchange, routing_key = json.loads(raw)
            if queue in (exchange, routing_key):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)


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
    assert job["images_per_second"] > 0
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
    wait_until(
        "the queue to drain",
        lambda: (
            cluster.ready_messages() == 0
            and cluster.task_counts(job["id"])[TaskStatus.running] == 0
        ),
        cluster,
        timeout=JOB_TIMEOUT_S,
    )
    time.sleep(0.5)  # the last prefetched message, if any, is handled too
    final = cluster.task_counts(job["id"])
    assert final[TaskStatus.cancelled] == at_cancel[TaskStatus.cancelled] > 0, (at_cancel, final)
    assert final[TaskStatus.done] + final[TaskStatus.cancelled] == 100, final
    assert final[TaskStatus.done] == at_cancel[TaskStatus.done] + at_cancel[TaskStatus.running]
    assert final[TaskStatus.failed] == 0
    job = cluster.stack.client.get(f"/api/v1/jobs/{job['id']}", headers=cluster.headers).json()
    assert job["status"] == "cancelled"
    assert cluster.predictions()[0] == final[TaskStatus.done]
