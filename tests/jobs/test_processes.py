"""The distributed shape as it is deployed: `labelbay serve` and `labelbay worker` as processes of
their own on PostgreSQL, moto S3 and RabbitMQ, an operator's `labelbay` commands beside them, and a
client that only speaks HTTP.

A model version activated while both run is used at once, by the server's KServe route (which
resolves a name on every call) and by the worker (which loads the version a job names, by id), with
no restart; the version used before stays cached and comes back when it is re-activated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelbay.config import Settings
from tests.jobs.helpers import NUDENET_CLASSES, YOLO_FILE, photo_jpegs
from tests.support.moto_server import MotoServer
from tests.support.processes import AMQP_URL, Processes, delete_queue, new_queue
from tests.support.stack import PASSWORD, make_settings

ADMIN = "ops@example.com"


@pytest.fixture
def deployed(
    postgres_url: str,
    moto_s3: MotoServer,
    s3_bucket: str,
    tmp_path: Path,
    processes: Callable[[Settings], Processes],
) -> Iterator[tuple[Processes, httpx.Client]]:
    settings = make_settings(
        postgres_url,
        f"s3://{s3_bucket}?endpoint={moto_s3.endpoint_url}&region=us-east-1",
        executor="celery",
        broker_url=AMQP_URL,
        job_queue=new_queue(),
        job_batch_size=4,
        model_cache_dir=str(tmp_path / "model-cache"),
    )
    group = processes(settings)
    group.run("user", "create", "--email", ADMIN, "--password", PASSWORD, "--admin")
    add_yolo(group, version="1", confidence=0.25)
    base_url = group.serve()
    group.worker()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        answer = client.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield group, client
    group.stop_all()
    delete_queue(AMQP_URL, settings.job_queue, group.started)


def add_yolo(group: Processes, *, version: str, confidence: float) -> None:
    classes = ",".join(NUDENET_CLASSES)
    group.run(
        "models", "add", "yolo", str(YOLO_FILE), "--format", "onnx-yolo", "--version", version,
        "--input-size", "320x320", "--classes", classes, "--confidence", str(confidence),
    )  # fmt: skip


def run_job(group: Processes, client: httpx.Client, project_id: int) -> dict[str, Any]:
    answer = client.post(f"/api/v1/projects/{project_id}/jobs", json={"model": "yolo"})
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    deadline = time.monotonic() + 120
    while (job := client.get(f"/api/v1/jobs/{job_id}").json())["status"] not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline, f"job did not finish: {job}\n{group.logs()}"
        time.sleep(0.1)
    assert (job["status"], job["done"], job["failed"]) == ("completed", 8, 0), group.logs()
    results = client.get(f"/api/v1/jobs/{job_id}/results").json()["results"]
    return {"job": job, "scores": [x["score"] for r in results for x in r["labels"]]}


def served_version(client: httpx.Client) -> str:
    """The version the v2 route serves (its metadata also lists every registered version)."""
    answer = client.get("/v2/models/yolo")
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["parameters"]["version"]
    return version


def test_serve_and_worker_processes_pick_up_a_new_version_without_restart(
    deployed: tuple[Processes, httpx.Client],
) -> None:
    group, client = deployed
    project = client.post("/api/v1/projects", json={"name": "deployed"}).json()
    files = [("files", (f"p{i}.jpg", blob, "image/jpeg")) for i, blob in enumerate(photo_jpegs(8))]
    upload = client.post(f"/api/v1/projects/{project['id']}/images", files=files)
    assert upload.status_code == 201, upload.text

    first = run_job(group, client, project["id"])
    assert first["job"]["model_version"] == "1"
    assert served_version(client) == "1"
    assert any(score < 0.9 for score in first["scores"]), first["scores"]

    # An operator registers a stricter version 2 (active at once) while both processes run.
    add_yolo(group, version="2", confidence=0.9)
    assert served_version(client) == "2"
    second = run_job(group, client, project["id"])
    assert second["job"]["model_version"] == "2"
    assert second["scores"] == [s for s in first["scores"] if s >= 0.9], group.logs()

    group.run("models", "activate", "yolo", "1")
    assert served_version(client) == "1"
    again = run_job(group, client, project["id"])
    assert again["job"]["model_version"] == "1"
    assert sorted(again["scores"]) == sorted(first["scores"])
    assert all(proc.poll() is None for proc in group.started), "nothing was restarted"
