"""Jobs at scale: a 1,000-image job on the embedded model processes and on 1 and 2 Celery workers
(RabbitMQ).

PostgreSQL (a fresh database) + a local folder; the YOLOv8n-320 fixture; one ONNX Runtime thread per
worker. References, measured in the same run: raw ONNX Runtime on ready tensors with one thread, in
one process and in two processes running at once (the same two cores the job gets; beside twice the
one-process rate, which shows the machine's own scaling loss), and the 1-worker rate for the
2-worker scaling ratio. Each job figure is the median of ROUNDS rounds, each beside a reference
measured just before and just after it (the scaling ratio: each round's 2 workers beside its 1).
Queue overhead per task is the worker time not spent in download, decode, inference or storing,
divided by the tasks.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
from fastapi.testclient import TestClient
from PIL import Image

from bench.bench_inference import yolo_model
from bench.report import Row
from labelbay.api.app import create_app
from labelbay.config import Settings
from labelbay.db.migrate import upgrade
from labelbay.db.session import transaction
from labelbay.inference.imageio import letterbox_batch
from labelbay.services.models import register_model
from labelbay.services.users import create_user

ADMIN_DSN = os.environ.get(
    "LABELBAY_BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BROKER = "amqp://guest:guest@127.0.0.1:5672//"

# Each job figure is the median of this many rounds, each job beside its reference measured just
# before and just after it: this machine's speed drifts by several percent within minutes (one
# build measured 0.82-0.87x of raw ORT in three runs in a row), so figures minutes apart compare
# badly.
ROUNDS = 3

# A round: (the job's rate, its reference's rate, the job as GET /jobs/{id} answered it).
Round = tuple[float, float, dict[str, Any]]


def _jpegs(count: int) -> list[bytes]:
    from skimage import data as samples

    sources = [samples.astronaut(), samples.coffee(), samples.chelsea(), samples.rocket()]
    out = []
    for i in range(count):
        img = cv2.resize(sources[i % len(sources)], (640, 480))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=80 + i % 10)
        out.append(buf.getvalue())
    return out


@contextmanager
def _database() -> Iterator[str]:
    name = f"labelbay_bench_jobs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def _settings(database_url: str, storage: Path, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database_url=database_url,
        storage_url=f"file://{storage}",
        model_cache_dir=str(storage / "cache"),
        rate_limit_enabled=False,
        log_level="WARNING",
        log_json=False,
        onnx_intra_op_threads=1,
        **overrides,
    )


def _prepare(
    client: TestClient, settings: Settings, jpegs: list[bytes]
) -> tuple[dict[str, str], int]:
    context = client.app.state.context  # type: ignore[attr-defined]
    with transaction(context.sessions) as session:
        create_user(session, email="bench@example.com", password="bench-password", is_admin=True)
        register_model(
            session,
            store=context.storage.models,
            name="yolo",
            format="onnx-yolo",
            file=Path(yolo_model(1).spec.path or ""),
            input_size=(320, 320),
        )
    headers = _sign_in(client)
    project = client.post("/api/v1/projects", json={"name": "bench"}, headers=headers).json()["id"]
    for start in range(0, len(jpegs), 100):
        files = [
            ("files", (f"{start + i}.jpg", b, "image/jpeg"))
            for i, b in enumerate(jpegs[start : start + 100])
        ]
        answer = client.post(f"/api/v1/projects/{project}/images", files=files, headers=headers)
        assert answer.status_code == 201, answer.text[:200]
    return headers, project


def _sign_in(client: TestClient) -> dict[str, str]:
    """The bench user's authorization header."""
    token = client.post(
        "/api/v1/auth/token", data={"username": "bench@example.com", "password": "bench-password"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _run_job(
    client: TestClient, headers: dict[str, str], project: int, image_ids: list[str] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "yolo", "save_outputs": False}
    if image_ids is not None:
        body["image_ids"] = image_ids
    job = client.post(f"/api/v1/projects/{project}/jobs", json=body, headers=headers).json()
    while job["status"] not in ("completed", "failed", "cancelled"):
        time.sleep(0.5)
        job = client.get(f"/api/v1/jobs/{job['id']}", headers=headers).json()
    # The job's own clock, from its creation (the request) to its completion (the last batch):
    # exact whatever the polling. Polling often would spend the cores being measured: each poll
    # is a signed-in request in this process, ~9 ms of CPU (every 50 ms: ~18% of a core).
    finished, created = (datetime.fromisoformat(job[k]) for k in ("finished_at", "created_at"))
    job["wall_s"] = (finished - created).total_seconds()
    if job["status"] != "completed" or job["done"] != job["total"]:
        raise RuntimeError(f"job did not complete: {job}")
    return job


def _overhead_ms(job: dict[str, Any], workers: int) -> float:
    """Wall time the workers spent outside the measured stages, per task. Not clamped: a negative
    figure means the stage timings add up to more than the time there was (a timing bug), and
    its goal (>= 0) makes `--check` fail on it."""
    busy_ms = sum(job["stage_ms"].values())
    return float((job["wall_s"] * 1000 * workers - busy_ms) / job["total"])


def _first_ids(client: TestClient, headers: dict[str, str], project: int, n: int) -> list[str]:
    page = client.get(f"/api/v1/projects/{project}/images?limit={n}", headers=headers).json()
    return [image["id"] for image in page["images"]]


def _start_workers(settings: Settings, count: int, workdir: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELBAY_")}
    env.update(
        {
            "LABELBAY_DATABASE_URL": settings.database_url,
            "LABELBAY_STORAGE_URL": settings.storage_url,
            "LABELBAY_BROKER_URL": settings.broker_url,
            "LABELBAY_JOB_QUEUE": settings.job_queue,
            "LABELBAY_MODEL_CACHE_DIR": str(workdir / "worker-cache"),
            "LABELBAY_ONNX_INTRA_OP_THREADS": "1",
            "LABELBAY_LOG_LEVEL": "WARNING",
            "LABELBAY_ENVIRONMENT": "test",
        }
    )
    cli = [sys.executable, "-m", "labelbay.cli", "worker", "--concurrency", "1"]
    return [
        subprocess.Popen(
            cli,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(count)
    ]


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        proc.terminate()
    for proc in workers:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _delete_queue(queue: str) -> None:
    from kombu import Connection

    with Connection(BROKER) as conn:
        conn.default_channel.queue_delete(queue)
        conn.default_channel.exchange_delete(queue)


def _raw_rate(jpegs: list[bytes], start: Any = None) -> float:
    """Raw ONNX Runtime (one intra-op thread) on ready tensors, batch 1: images per second of this
    process; `start` (a barrier) lines the timed runs of several processes up."""
    model = yolo_model(1)
    session = model.session  # type: ignore[attr-defined]
    name = session.get_inputs()[0].name
    tensors = [
        letterbox_batch(
            [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR_RGB)], (320, 320)
        )[0]
        for j in jpegs[:8]
    ]
    for tensor in tensors:  # warm-up
        session.run(None, {name: tensor})
    if start is not None:
        start.wait()
    started = time.perf_counter()
    for i in range(200):
        session.run(None, {name: tensors[i % len(tensors)]})
    return 200 / (time.perf_counter() - started)


def _raw_in_child(jpegs: list[bytes], start: Any, rates: Any) -> None:
    rates.put(_raw_rate(jpegs, start))


def _raw_at_once(jpegs: list[bytes], processes: int) -> float:
    """Raw ONNX Runtime in `processes` processes running at the same time (one intra-op thread
    each): their summed rate, what the machine's cores give the bare model together."""
    context = multiprocessing.get_context("spawn")
    start, rates = context.Barrier(processes), context.Queue()
    children = [
        context.Process(target=_raw_in_child, args=(jpegs[:8], start, rates))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    total = sum(rates.get(timeout=600) for _ in children)
    for child in children:
        child.join()
    return float(total)


def _celery_job(settings: Settings, count: int, workdir: Path, project: int) -> dict[str, Any]:
    """The whole project's job on `count` fresh Celery workers (after a warm-up job)."""
    workers = _start_workers(settings, count, workdir)
    try:
        with TestClient(create_app(settings)) as client:
            headers = _sign_in(client)
            _run_job(client, headers, project, _first_ids(client, headers, project, 32))  # warm-up
            return _run_job(client, headers, project, None)
    finally:
        _stop(workers)
        _delete_queue(settings.job_queue)


def _rate(job: dict[str, Any]) -> float:
    return float(job["total"] / job["wall_s"])


def _bracketed(
    reference: Callable[[], float], job: Callable[[], dict[str, Any]], count: int
) -> list[Round]:
    """`count` jobs in a row, each beside the average of the references measured right before and
    right after it (so that a drift of the machine's speed during the round cancels out); one
    reference between two jobs serves both."""
    rounds, before = [], reference()
    for _ in range(count):
        done = job()
        after = reference()
        rounds.append((_rate(done), (before + after) / 2, done))
        before = after
    return rounds


def _by_ratio(rounds: list[Round]) -> list[Round]:
    return sorted(rounds, key=lambda round_: round_[0] / round_[1])


def _median(rounds: list[Round]) -> Round:
    """The round whose ratio of rate to reference is the median."""
    return _by_ratio(rounds)[len(rounds) // 2]


def _spread(rounds: list[Round], reference: str) -> list[Row]:
    """The slowest and the fastest of the rounds, beside their own references: how far one round
    may fall from the median on this machine."""
    ordered = _by_ratio(rounds)
    return [
        Row(f"  {which} of {len(rounds)} rounds", rate, "i/s", reference, ref)
        for which, (rate, ref, _) in (("slowest", ordered[0]), ("fastest", ordered[-1]))
    ]


def run(images: int = 1000) -> list[Row]:
    jpegs = _jpegs(images)
    raw = _raw_rate(jpegs)
    raw_two = _raw_at_once(jpegs, 2)
    rows: list[Row] = [
        # What two cores give the bare model, beside twice what one process gets alone: the
        # machine's own scaling, which no pipeline can beat.
        Row("raw ORT, 2 processes x 1 thread at once", raw_two, "i/s", "raw ORT x2", 2 * raw)
    ]
    with _database() as database_url, tempfile.TemporaryDirectory() as tmp:
        upgrade(database_url)
        folder = Path(tmp)
        embedded = _settings(
            database_url, folder / "objects", executor="inprocess", inprocess_workers=2
        )
        with TestClient(create_app(embedded)) as client:
            headers, project = _prepare(client, embedded, jpegs)
            _run_job(client, headers, project, _first_ids(client, headers, project, 16))  # warm-up
            rounds = _bracketed(
                partial(_raw_at_once, jpegs, 2),
                partial(_run_job, client, headers, project, None),
                ROUNDS,
            )
        rate, reference, job = _median(rounds)
        rows.append(
            Row(
                "job, embedded (2 model processes x 1 ORT thread)",
                rate,
                "i/s",
                "raw ORT, 2 processes at once",
                reference,
                goal=">= 0.85x",
            )
        )
        rows.extend(_spread(rounds, "raw ORT, 2 processes at once"))
        rows.append(
            Row("  queue overhead per task, in process", _overhead_ms(job, 2), "ms", goal=">= 0 ms")
        )
        celery: dict[int, list[Round]] = {1: [], 2: []}
        for _ in range(ROUNDS):
            for count in (1, 2):
                settings = _settings(
                    database_url,
                    folder / "objects",
                    executor="celery",
                    broker_url=BROKER,
                    job_queue=f"labelbay-bench-{uuid.uuid4().hex[:8]}",
                )
                # 1 and 2 workers alternate, so that each round's pair is minutes apart at most.
                celery[count] += _bracketed(
                    partial(_raw_rate, jpegs) if count == 1 else partial(_raw_at_once, jpegs, 2),
                    partial(_celery_job, settings, count, folder, project),
                    1,
                )
        for count in (1, 2):
            rate, reference, job = _median(celery[count])
            rows.append(
                Row(
                    f"job, {count} Celery worker(s) on RabbitMQ",
                    rate,
                    "i/s",
                    "raw ORT, 1 process" if count == 1 else "raw ORT, 2 processes at once",
                    reference,
                )
            )
            rows.append(
                Row(
                    f"  queue overhead per task, {count} worker(s)",
                    _overhead_ms(job, count),
                    "ms",
                    goal=">= 0 ms",
                )
            )
        # Each round's 2 workers beside the same round's 1 worker.
        pairs = [(two[0], one[0], two[2]) for one, two in zip(celery[1], celery[2], strict=True)]
        two_rate, one_rate, _ = _median(pairs)
        rows.append(
            Row("2 Celery workers", two_rate, "i/s", "1 Celery worker", one_rate, goal=">= 1.8x")
        )
        rows.extend(_spread(pairs, "1 Celery worker"))
    return rows
