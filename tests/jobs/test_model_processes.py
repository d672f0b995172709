"""Models run in model processes that the embedded server supervises, never in the API process:
a model that crashes in native code kills its process, not the server, and fails only its image.

The crashing model really segfaults. Were it run in the API process, it would take pytest with it.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from labelbay.jobs.model_processes import ModelProcessCrashed, ModelProcesses
from labelbay.runtime import Runtime
from tests.jobs.helpers import upload, wait_for_job
from tests.support.fixed_model import RED, register_fixed_models
from tests.support.stack import Stack, make_settings

CRASH_MODELS = {"fixed-crash": ("detect", ["fish"])}
SEGFAULT = "the model process crashed: signal 11 (SIGSEGV)"


# Called by name in the model processes.
def own_pid(_runtime: Runtime) -> int:
    return os.getpid()


def refuse(_runtime: Runtime, text: str) -> None:
    raise ValueError(text)


def segfault(_runtime: Runtime) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


@pytest.fixture
def stack_urls(sqlite_url: str, tmp_path: Path) -> tuple[str, str, str]:
    """The embedded stack only: the model processes are its executor."""
    return "embedded", sqlite_url, f"file://{tmp_path}/objects"


@pytest.fixture
def pool(sqlite_url: str, tmp_path: Path) -> Any:
    processes = ModelProcesses(make_settings(sqlite_url, f"file://{tmp_path}/objects"), size=2)
    yield processes
    processes.close()


def test_calls_run_in_another_process_and_a_crash_is_reported_then_replaced(
    pool: ModelProcesses,
) -> None:
    first = pool.call(own_pid).result(timeout=60)
    assert first != os.getpid()
    with pytest.raises(ValueError, match="no such thing"):
        pool.call(refuse, "no such thing").result(timeout=60)
    assert pool.call(own_pid).result(timeout=60) == first  # a refusal keeps the process

    with pytest.raises(ModelProcessCrashed) as crash:
        pool.call(segfault).result(timeout=60)
    assert str(crash.value) == SEGFAULT
    assert crash.value.exitcode == -signal.SIGSEGV

    after = pool.call(own_pid).result(timeout=60)  # a fresh process answers the next call
    assert after not in (first, os.getpid())
    assert first not in pool.children()


def test_the_pool_grows_to_its_size_only_under_load(pool: ModelProcesses) -> None:
    assert pool.children() == []  # nothing starts before there is work
    assert pool.call(own_pid).result(timeout=60) != os.getpid()
    assert len(pool.children()) == 1
    busy = [pool.call(own_pid) for _ in range(8)]
    pids = {future.result(timeout=60) for future in busy}
    assert 1 <= len(pids) <= 2
    assert len(pool.children()) <= 2


def jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")  # lossless: the red image stays exactly red
    return buf.getvalue()


def test_a_segfaulting_model_fails_only_its_image_and_the_server_keeps_answering(
    stack: Stack, tmp_path: Path
) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_fixed_models(stack, tmp_path, CRASH_MODELS)
    project = stack.project(admin)
    red = np.zeros((64, 64, 3), np.uint8)
    red[...] = RED
    photos = [samples.astronaut()[i * 40 : i * 40 + 200, :200] for i in range(9)]
    blobs = [jpeg(p) for p in photos[:4]] + [jpeg(red)] + [jpeg(p) for p in photos[4:]]
    image_ids = upload(stack, admin, project["id"], blobs)
    red_id = image_ids[4]

    health: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            health.append(stack.client.get("/health").status_code)
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answer = stack.client.post(
            f"/api/v1/projects/{project['id']}/jobs", json={"model": "fixed-crash"}, headers=admin
        )
        assert answer.status_code == 201, answer.text
        job = wait_for_job(stack, admin, answer.json()["id"], timeout=180)
    finally:
        stop.set()
        watcher.join()

    assert job["status"] == "completed"
    assert (job["total"], job["done"], job["failed"]) == (10, 9, 1)
    assert job["errors"] == [{"image_id": red_id, "error": SEGFAULT}]
    assert health
    assert set(health) == {200}

    results = stack.client.get(f"/api/v1/jobs/{job['id']}/results", headers=admin).json()
    done = {r["image_id"] for r in results["results"] if r["status"] == "done"}
    assert done == set(image_ids) - {red_id}


def test_the_api_process_loads_no_model(stack: Stack, tmp_path: Path) -> None:
    admin = stack.user("admin@example.com", admin=True)
    register_fixed_models(stack, tmp_path)
    project = stack.project(admin)
    upload(stack, admin, project["id"], [jpeg(samples.astronaut()[:128, :128])])
    answer = stack.client.post(
        f"/api/v1/projects/{project['id']}/jobs", json={"model": "fixed-boxes"}, headers=admin
    )
    job = wait_for_job(stack, admin, answer.json()["id"])
    assert (job["status"], job["done"]) == ("completed", 1)
    assert stack.context.runtime.models._loaded == {}  # the models live in the model processes
    assert stack.context.processes.children()
