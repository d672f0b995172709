"""Faults an operator meets, made for real while a job runs: a worker SIGKILLed mid-batch, the
broker stopped and started, the database stopped for 15 s, the API killed between committing a
job and publishing it, a job posted while the broker is down.

Everything runs on this session's private PostgreSQL and RabbitMQ (`tests/support/
private_services.py`), so stopping them disturbs no one else. The API is an app in this process
(its dispatcher thread included) or a `labelbay serve` process; the work is done by `labelbay
worker` processes. Each case ends with every image done exactly once (one prediction row per
image, none missing) and nothing left queued or running, within the bound it states, counted
from the moment the fault healed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from labelbay.api.app import create_app
from labelbay.db.models import Job, JobTask, Prediction, TaskStatus
from tests.jobs.helpers import register_yolo, small_jpegs, upload
from tests.support.private_services import PrivatePostgres, PrivateRabbitMQ
from tests.support.processes import (
    Processes,
    delete_queue,
    new_queue,
    settings_env,
    wait_until,
)
from tests.support.stack import PASSWORD, Stack, make_settings

pytestmark = pytest.mark.slow

FINAL = ("completed", "failed", "cancelled")


@dataclass
class Deployment:
    """An API app in this process and `labelbay` processes beside it, on the private services."""

    stack: Stack
    processes: Processes
    postgres: PrivatePostgres
    rabbitmq: PrivateRabbitMQ
    headers: dict[str, str] = field(default_factory=dict)
    project_id: int = 0

    def logs(self) -> str:
        return f"{self.processes.logs(tail=20000)}\n--- postgres ---\n{self.postgres.log()}"

    def images(self, count: int) -> None:
        self.headers = self.stack.quick_user("ops@example.com", admin=True)
        register_yolo(self.stack)
        self.project_id = self.stack.project(self.headers)["id"]
        upload(self.stack, self.headers, self.project_id, small_jpegs(count))

    def post_job(self, client: Any = None, **body: Any) -> tuple[int, dict[str, Any], float]:
        """POST a YOLO job; (status code, answer, seconds the answer took)."""
        client = client or self.stack.client
        started = time.monotonic()
        answer = client.post(
            f"/api/v1/projects/{self.project_id}/jobs",
            json={"model": "yolo", "save_outputs": False, **body},
            headers=self.headers,
        )
        return answer.status_code, answer.json(), time.monotonic() - started

    def tasks(self, job_id: int) -> dict[str, int]:
        """Tasks per status, from SQL (the truth)."""
        with self.stack.context.sessions() as session:
            rows = session.execute(
                select(JobTask.status, func.count())
                .where(JobTask.job_id == job_id)
                .group_by(JobTask.status)
            ).all()
        counts = {status.value: 0 for status in TaskStatus}
        counts.update({status: int(n) for status, n in rows})
        return counts

    def wait_for_done(self, job_id: int, at_least: int) -> dict[str, int]:
        found: dict[str, int] = {}

        def enough() -> bool:
            found.update(self.tasks(job_id))
            return found[TaskStatus.done] >= at_least

        wait_until(f"{at_least} tasks done", enough, self.logs, timeout=60)
        return found

    def settle(self, job_id: int, *, bound_s: float) -> float:
        """Wait for the job to end; seconds it took (fails past `bound_s`)."""
        started = time.monotonic()

        def ended() -> bool:
            with self.stack.context.sessions() as session:
                return session.scalar(select(Job.status).where(Job.id == job_id)) in FINAL

        def state() -> str:
            return f"tasks: {self.tasks(job_id)}\n{self.logs()}"

        wait_until(f"job {job_id} to end within {bound_s} s", ended, state, timeout=bound_s)
        return time.monotonic() - started

    def assert_each_image_once(self, job_id: int, total: int) -> None:
        """The job completed, every task is done and every image has exactly one prediction."""
        with self.stack.context.sessions() as session:
            job = session.get_one(Job, job_id)
            per_image = dict(
                session.execute(
                    select(JobTask.image_id, func.count(Prediction.id))
                    .outerjoin(
                        Prediction,
                        (Prediction.image_id == JobTask.image_id)
                        & (Prediction.model_version_id == job.model_version_id),
                    )
                    .where(JobTask.job_id == job_id)
                    .group_by(JobTask.image_id)
                ).all()
            )
        assert (job.status, job.total, job.done, job.failed) == ("completed", total, total, 0), (
            f"{job.status} {job.done}/{job.total}, {job.failed} failed\n{self.logs()}"
        )
        assert self.tasks(job_id)[TaskStatus.done] == total
        assert len(per_image) == total
        assert set(per_image.values()) == {1}, per_image


@pytest.fixture
def deployment(
    private_database: str, private_broker: PrivateRabbitMQ, private_postgres: PrivatePostgres,
    tmp_path: Path,
) -> Iterator[Callable[..., Deployment]]:  # fmt: skip
    """A factory: `deployment(job_batch_size=...)` → a Deployment with no worker started yet."""
    with ExitStack() as cleanup:

        def factory(**overrides: Any) -> Deployment:
            settings = make_settings(
                private_database,
                f"file://{tmp_path}/objects",
                executor="celery",
                broker_url=private_broker.url,
                job_queue=new_queue(),
                model_cache_dir=str(tmp_path / "api-model-cache"),
                task_retry_backoff_s=0.2,
                **overrides,
            )
            client = cleanup.enter_context(TestClient(create_app(settings)))
            stack = Stack(name="chaos", settings=settings, app=client.app, client=client)  # type: ignore[arg-type]
            workdir = tmp_path / "processes"
            workdir.mkdir()
            env = settings_env(settings)
            env["LABELBAY_MODEL_CACHE_DIR"] = str(workdir / "model-cache")
            processes = Processes(workdir, env)
            cleanup.callback(
                lambda: (
                    private_broker.running()
                    and delete_queue(private_broker.url, settings.job_queue, processes.started)
                )
            )
            cleanup.callback(processes.stop_all)
            return Deployment(stack, processes, private_postgres, private_broker)

        yield factory


def test_a_worker_sigkilled_mid_batch(deployment: Callable[..., Deployment]) -> None:
    """Bound: 30 s from the replacement worker's start to the job's end."""
    cluster = deployment(job_batch_size=4)
    first = cluster.processes.worker()
    cluster.images(40)
    status, job, _ = cluster.post_job()
    assert status == 201, job
    cluster.wait_for_done(job["id"], at_least=8)
    cluster.processes.kill(first)
    at_kill = cluster.tasks(job["id"])
    assert at_kill[TaskStatus.done] < 40, f"the kill came too late: {at_kill}"

    cluster.processes.worker()
    took = cluster.settle(job["id"], bound_s=30)
    cluster.assert_each_image_once(job["id"], 40)
    print(f"\nworker SIGKILLed at {at_kill}: job ended {took:.1f} s after a new worker started")


def test_the_broker_stopped_and_started_mid_job(deployment: Callable[..., Deployment]) -> None:
    """Bound: 30 s from the broker's restart to the job's end. More images than the other cases:
    stopping RabbitMQ takes seconds, during which the worker goes on with what it holds."""
    IMAGES = 100
    cluster = deployment(job_batch_size=1)
    worker = cluster.processes.worker()
    cluster.images(IMAGES)
    status, job, _ = cluster.post_job()
    assert status == 201, job
    cluster.wait_for_done(job["id"], at_least=5)
    cluster.rabbitmq.stop()
    at_stop = cluster.tasks(job["id"])
    assert at_stop[TaskStatus.done] < IMAGES, f"the stop came too late: {at_stop}"
    time.sleep(2)
    cluster.rabbitmq.start()

    took = cluster.settle(job["id"], bound_s=30)
    cluster.assert_each_image_once(job["id"], IMAGES)
    assert worker.poll() is None, "the worker reconnects, it does not exit"
    print(f"\nbroker stopped at {at_stop}: job ended {took:.1f} s after it was back")


def test_the_database_stopped_for_15_s_mid_job(deployment: Callable[..., Deployment]) -> None:
    """Bound: 30 s from the database's restart to the job's end. (Before the outbox and the
    outage-aware retries, each batch spent its 3 tries in ~3 s and the job stayed running.)"""
    cluster = deployment(job_batch_size=2)
    cluster.processes.worker()
    cluster.images(40)
    status, job, _ = cluster.post_job()
    assert status == 201, job
    cluster.wait_for_done(job["id"], at_least=6)
    cluster.postgres.stop()
    time.sleep(15)
    cluster.postgres.start()
    at_start = cluster.tasks(job["id"])
    assert at_start[TaskStatus.done] < 40, f"the outage came too late: {at_start}"

    took = cluster.settle(job["id"], bound_s=30)
    cluster.assert_each_image_once(job["id"], 40)
    print(f"\ndatabase down 15 s at {at_start}: job ended {took:.1f} s after it was back")


def test_the_api_killed_between_commit_and_publish(
    deployment: Callable[..., Deployment],
) -> None:
    """A `labelbay serve` commits the job, then hangs publishing it (the broker is frozen with
    SIGSTOP) and is SIGKILLed there. Bound: 30 s from the kill to the job's end, with the other
    API (this process's app) and a worker running."""
    cluster = deployment(job_batch_size=4)
    cluster.processes.worker()
    cluster.images(40)
    base_url = cluster.processes.serve()
    serve = cluster.processes.started[-1]
    with httpx.Client(base_url=base_url, timeout=60) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "ops@example.com", "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        cluster.rabbitmq.pause()
        try:
            posting = threading.Thread(
                target=lambda: _post_ignoring_errors(client, cluster.project_id, headers),
                daemon=True,
            )
            posting.start()
            wait_until("the job to be committed", lambda: _jobs(cluster) == 1, cluster.logs, 30)
            cluster.processes.kill(serve)
        finally:
            cluster.rabbitmq.resume()
        posting.join(timeout=30)
    killed_at = time.monotonic()
    with cluster.stack.context.sessions() as session:
        job_id = session.scalars(select(Job.id)).one()
    cluster.settle(job_id, bound_s=30)
    cluster.assert_each_image_once(job_id, 40)
    print(f"\nAPI killed before publishing: job ended {time.monotonic() - killed_at:.1f} s later")


def _post_ignoring_errors(client: httpx.Client, project_id: int, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed under the request
        client.post(
            f"/api/v1/projects/{project_id}/jobs",
            json={"model": "yolo", "save_outputs": False},
            headers=headers,
        )


def _jobs(cluster: Deployment) -> int:
    with cluster.stack.context.sessions() as session:
        return session.scalar(select(func.count(Job.id))) or 0


def test_a_job_posted_while_the_broker_is_down(deployment: Callable[..., Deployment]) -> None:
    """`POST …/jobs` answers 201 within 10 s while the broker is down; the job runs once it is
    back. Bound: 30 s from the broker's start to the job's end."""
    cluster = deployment(job_batch_size=4)
    cluster.processes.worker()
    cluster.images(40)
    cluster.rabbitmq.stop()
    status, job, answered_s = cluster.post_job()
    assert status == 201, job
    assert answered_s < 10, answered_s
    assert cluster.tasks(job["id"])[TaskStatus.queued] == 40
    cluster.rabbitmq.start()

    took = cluster.settle(job["id"], bound_s=30)
    cluster.assert_each_image_once(job["id"], 40)
    print(f"\nposted with the broker down: 201 in {answered_s:.1f} s, ended {took:.1f} s later")
