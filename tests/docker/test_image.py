"""The container image as users run it: `labelbay serve` with the web app, `labelbay label` with
the built-in models and no network, and `labelbay serve` + `labelbay worker` containers sharing the
host's PostgreSQL, RabbitMQ and an S3 server (moto) through `--network host`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from kombu import Connection
from skimage import data as samples

from tests.docker.conftest import ROOT, BuiltImage, docker
from tests.support.databases import _admin, pg_url
from tests.support.moto_server import DUMMY_CREDENTIALS, MotoServer
from tests.support.stack import free_port

# The first test's set-up builds the image: minutes with a cold cache (see the README).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
EMAIL, PASSWORD = "admin@example.com", "container-password-123"
SIGN_IN_SCRIPT = Path(__file__).with_name("sign_in.cjs")
PHOTOS = {
    "coins.png": np.stack([samples.coins()] * 3, axis=-1),
    "astronaut.jpg": samples.astronaut(),
    "page.png": np.stack([samples.page()] * 3, axis=-1),
}
# `labelbay label` per built-in model: which photo each one is run on.
MODEL_PHOTOS = {"circles": "coins.png", "faces": "astronaut.jpg", "text": "page.png"}


class Container:
    """A detached container on the host's network (the daemon runs with `--bridge=none`)."""

    def __init__(self, image: BuiltImage, *args: str, env: dict[str, str] | None = None) -> None:
        env_args = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
        # Under the vfs storage driver creating a container copies the image: not instant.
        run = ("run", "--detach", "--network", "host", *env_args, image.tag, *args)
        self.id = docker(*run, timeout=600).strip()

    def logs(self) -> str:
        done = subprocess.run(
            ["docker", "logs", "--tail", "60", self.id],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.stdout + done.stderr

    def exec(self, *args: str) -> str:
        return docker("exec", self.id, *args, timeout=120)

    def remove(self) -> None:
        docker("rm", "--force", self.id, timeout=120, check=False)


def wait_for_health(base_url: str, container: Container, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no /health answer from the container:\n{container.logs()}")
        time.sleep(0.5)


@dataclass
class Cluster:
    base_url: str
    serve: Container
    worker: Container


@pytest.fixture(scope="module")
def cluster(image: BuiltImage, postgres_template: str, moto_s3: MotoServer) -> Iterator[Cluster]:
    """Distributed: a `serve` container (the image's default command) and a `worker` container
    on the host's network, sharing a fresh PostgreSQL database, an S3 bucket (moto) and a RabbitMQ
    queue of their own. Both containers, the queue and the database go at the end."""
    database = f"labelbay_docker_{uuid.uuid4().hex[:12]}"
    queue = f"labelbay-docker-{uuid.uuid4().hex[:12]}"
    bucket = f"docker-{uuid.uuid4().hex[:20]}"
    moto_s3.client().create_bucket(Bucket=bucket)
    port = free_port()
    env = {
        "LABELBAY_PORT": str(port),
        "LABELBAY_DATABASE_URL": pg_url(database),
        "LABELBAY_STORAGE_URL": f"s3://{bucket}?endpoint={moto_s3.endpoint_url}&region=us-east-1",
        "LABELBAY_S3_ACCESS_KEY_ID": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "LABELBAY_S3_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "LABELBAY_EXECUTOR": "celery",
        "LABELBAY_BROKER_URL": AMQP_URL,
        "LABELBAY_JOB_QUEUE": queue,
        "LABELBAY_LOG_JSON": "false",
        "LABELBAY_ENVIRONMENT": "test",
    }
    with ExitStack() as cleanup:
        _admin(f'CREATE DATABASE "{database}" TEMPLATE "{postgres_template}"')
        cleanup.callback(_admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cleanup.callback(_delete_queue, queue)
        serve = Container(image, env=env)
        cleanup.callback(serve.remove)
        worker = Container(image, "labelbay", "worker", "--concurrency", "1", env=env)
        cleanup.callback(worker.remove)
        base_url = f"http://127.0.0.1:{port}"
        wait_for_health(base_url, serve)
        serve.exec("labelbay", "user", "create", "--email", EMAIL, "--password", PASSWORD)
        yield Cluster(base_url, serve, worker)


def _delete_queue(queue: str) -> None:
    """The queue and the direct exchange of the same name that Celery declared for it."""
    with Connection(AMQP_URL, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(queue)
        conn.default_channel.exchange_delete(queue)


def test_the_serve_container_runs_as_a_non_root_user_and_is_healthy(
    cluster: Cluster, image: BuiltImage
) -> None:
    assert cluster.serve.exec("id", "-u").strip() == "10001"
    assert cluster.worker.exec("id", "-u").strip() == "10001"
    # The image's own HEALTHCHECK command, run as Docker runs it.
    healthcheck = json.loads(
        docker("inspect", "--format", "{{json .Config.Healthcheck}}", image.tag)
    )
    assert healthcheck["Test"][0] == "CMD"
    cluster.serve.exec(*healthcheck["Test"][1:])
    assert httpx.get(f"{cluster.base_url}/health", timeout=10).status_code == 200


def test_the_serve_container_serves_the_web_app(cluster: Cluster) -> None:
    page = httpx.get(f"{cluster.base_url}/", timeout=10)
    assert page.status_code == 200
    assert "has not been built" not in page.text
    script = re.search(r'<script type="module"[^>]*src="([^"]+)"', page.text)
    assert script, page.text
    bundle = httpx.get(f"{cluster.base_url}{script[1]}", timeout=10)
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
    seen = sign_in_with_chromium(cluster.base_url)
    assert seen == {"form": True, "signed_in": True, "page_errors": []}, seen


def sign_in_with_chromium(base_url: str) -> dict[str, Any]:
    """Headless Chromium (Debian's, through playwright-core) opens `/`, finds the sign-in form,
    signs in and waits for the projects page."""
    node_modules = ROOT / "frontend" / "node_modules"
    assert (node_modules / "playwright-core").is_dir(), "run `make frontend-typecheck` (npm ci)"
    done = subprocess.run(
        ["node", str(SIGN_IN_SCRIPT), base_url, EMAIL, PASSWORD],
        env={**os.environ, "NODE_PATH": str(node_modules)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def detections(labels_json: Path) -> dict[str, list[tuple[str, str, float, list[float]]]]:
    """Per file name: (class, text, confidence, box) of each detection of `label --format json`."""
    return {
        Path(record["file_name"]).name: [
            (d["label"], d.get("text", ""), d["score"], list(d["bbox"].values()))
            for d in record["objects"]
        ]
        for record in json.loads(labels_json.read_text())
    }


def assert_same_detections(found: list[Any], expected: list[Any], what: str) -> None:
    """Same classes and texts in the same order; scores and boxes equal up to float noise (the
    image may hold newer wheels of numpy, OpenCV or ONNX Runtime than this machine)."""
    assert [d[:2] for d in found] == [d[:2] for d in expected], what
    for (*_, score, box), (*_, host_score, host_box) in zip(found, expected, strict=True):
        assert score == pytest.approx(host_score, abs=0.01), what
        assert box == pytest.approx(host_box, abs=1.0), what


def test_label_in_the_container_finds_what_the_host_finds_offline(
    image: BuiltImage, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, rgb in PHOTOS.items():
        cv2.imwrite(str(photos / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the container's user (10001) writes here
    # The embedded default's SQLite file in /app/data, made by the image's own (non-root) user.
    commands = ["labelbay db upgrade", "test -s /app/data/labelbay.db"] + [
        f"labelbay label /photos/{photo} --model {model} --format json --out /out/{model}.json"
        for model, photo in MODEL_PHOTOS.items()
    ]
    docker(
        "run", "--rm", "--network", "none",
        "-v", f"{photos}:/photos:ro", "-v", f"{out}:/out",
        image.tag, "sh", "-c", " && ".join(commands),
        timeout=600,
    )  # fmt: skip
    for model, photo in MODEL_PHOTOS.items():
        host_out = tmp_path / f"host-{model}.json"
        run = subprocess.run(
            [sys.executable, "-m", "labelbay.cli", "label", str(photos / photo), "--model", model,
             "--format", "json", "--out", str(host_out)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        in_container, on_host = detections(out / f"{model}.json"), detections(host_out)
        assert on_host[photo], f"{model} found nothing in {photo}: the comparison proves nothing"
        assert_same_detections(in_container[photo], on_host[photo], f"{model} on {photo}")


def test_serve_and_worker_containers_finish_a_job(cluster: Cluster) -> None:
    with httpx.Client(base_url=cluster.base_url, timeout=60) as client:
        job = run_a_circles_job(client)
    logs = f"--- worker ---\n{cluster.worker.logs()}\n--- serve ---\n{cluster.serve.logs()}"
    assert (job["status"], job["done"], job["failed"]) == ("completed", 3, 0), f"{job}\n{logs}"
    results = job["results"]["results"]
    assert [r["status"] for r in results] == ["done"] * 3
    assert {x["label"] for r in results for x in r["labels"]} == {"circle"}
    assert all(len(r["labels"]) > 5 for r in results), results  # coins: 24 of them


def run_a_circles_job(client: httpx.Client) -> dict[str, Any]:
    token = client.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    project = client.post("/api/v1/projects", json={"name": "coins"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    _, png = cv2.imencode(".png", samples.coins())
    files = [("files", (f"coins{i}.png", png.tobytes(), "image/png")) for i in range(3)]
    uploaded = client.post(f"/api/v1/projects/{project_id}/images", files=files)
    assert uploaded.status_code == 201, uploaded.text
    created = client.post(f"/api/v1/projects/{project_id}/jobs", json={"model": "circles"})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 180
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{created.json()['id']}").json()
        if job["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    results = client.get(f"/api/v1/jobs/{job['id']}/results")
    assert results.status_code == 200, results.text
    job["results"] = results.json()
    return job
