"""The review queue at scale: `review/next` on a 100,000-image project with 1,000,000 predictions
(PostgreSQL), through a real `labelbay serve` with one API process per core (`--workers`, as a
PostgreSQL deployment runs API replicas). `LABELBAY_BENCH_REVIEW_IMAGES` sets a smaller project
for a quick run.

Each reviewer loops: `GET …/review/next?strategy=…` (timed), then accepts the image (not timed),
so every call claims a fresh image under its lease. Each line stands beside its reference, a
plain `GET /api/v1/projects/{id}/images?limit=1` measured the same way in the same run:

- "10 reviewers, ~1 s pause": 10 clients that look at each image for 0.5 to 1.5 s (1 s on
  average, drawn anew each time) before the verdict, like people do: what a reviewer waits for
  on a shared server. This is the issue's goal. A fixed pause would be wrong: once one slow call
  makes several clients wait together, they stay in step forever and every later call queues
  behind the others', which people working at their own pace don't do.
- "1 reviewer": one client, so the figure is the call's own time (HTTP, auth, SQL, JSON).
- "10 clients, no pause": 10 client threads back to back on the bench's machine, a load test
  rather than people: with 2 cores a call waits behind the other clients' calls and verdicts,
  so the figure is mostly queueing (the reference queues too, behind GETs only). It has no goal.

The project's queue is shared by every line, so later lines start further into it.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from bench.bench_scale import (
    LABELS,
    MODELS,
    PASSWORD,
    _url,
    bulk_load,
    fresh_database,
    new_project,
)
from bench.report import Row
from bench.serving import free_port, wait_until_healthy

REVIEWERS = 10
THINK_S = 1.0  # seconds a person looks at an image before the verdict, on average
API_PROCESSES = min(4, os.cpu_count() or 1)


def seed(name: str, images: int) -> tuple[int, int, float]:
    """The project, `MODELS` versions, the images and one prediction per image and version with
    varied scores (so uncertainties differ); returns (project id, first version id, seconds)."""
    from labelbay import labels
    from labelbay.db.base import uuid7

    project_id, owner_id = new_project(name, project="review", labels=LABELS)
    now = datetime.now(UTC)
    started = time.perf_counter()
    rng = random.Random(11)
    variants: list[tuple[str, int, float | None]] = []
    for n in (0, 1, 2, 3, 3, 5) * 8:
        found = [
            labels.make(
                "box",
                LABELS[rng.randrange(len(LABELS))],
                {"x1": 10.0, "y1": 10.0, "x2": 110.0, "y2": 90.0},
                score=round(rng.uniform(0.25, 1.0), 3),
            )
            for _ in range(n)
        ]
        rows = json.dumps([x.to_json() for x in found])
        variants.append((rows, n, labels.uncertainty(found)))
    with bulk_load(name, project_id) as conn:
        conn.execute(
            "INSERT INTO model_versions (name, version, task, format, class_names, "
            "confidence_threshold, iou_threshold, max_detections, options, is_active, created_at) "
            "SELECT 'model' || g, '1', 'detect', 'builtin', %s, 0.25, 0.45, 300, '{}', true, %s "
            "FROM generate_series(1, %s) AS g",
            (json.dumps(LABELS), now, MODELS),
        )
        versions = [row[0] for row in conn.execute("SELECT id FROM model_versions ORDER BY id")]
        ids = [uuid7() for _ in range(images)]
        columns = (
            "id, project_id, original_filename, storage_key, mime_type, size_bytes, width, "
            "height, sha256, metadata, uploaded_by_id, review_status, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY images ({columns}) FROM STDIN") as copy:
            for i, image_id in enumerate(ids):
                meta = json.dumps({"camera": f"cam{i % 20}"})
                key = f"images/2026/01/01/{image_id}.jpg"
                facts = (f"img{i:06d}.jpg", key, "image/jpeg", 50_000, 640, 480, "0" * 64)
                copy.write_row(
                    (image_id, project_id, *facts, meta, owner_id, "unreviewed", now, now)
                )
        columns = (
            "image_id, model_version_id, detections, num_detections, uncertainty, review, "
            "processing_time_ms, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY predictions ({columns}) FROM STDIN") as copy:
            for version in versions:
                for i, image_id in enumerate(ids):
                    rows, n, uncertainty = variants[(i * 7 + version) % len(variants)]
                    copy.write_row((image_id, version, rows, n, uncertainty, "{}", 5.0, now, now))
    return project_id, versions[0], time.perf_counter() - started


def _reviewers(name: str, project_id: int) -> list[str]:
    from labelbay.db.models import ProjectMember
    from labelbay.db.session import make_engine, make_sessionmaker, transaction
    from labelbay.services.users import create_user

    engine = make_engine(_url(name))
    emails = [f"reviewer{i}@example.com" for i in range(REVIEWERS)]
    with transaction(make_sessionmaker(engine)) as session:
        for email in emails:
            user = create_user(session, email=email, password=PASSWORD)
            session.add(ProjectMember(project_id=project_id, user_id=user.id, role="annotator"))
    engine.dispose()
    return emails


def _concurrent(
    base: str,
    tokens: list[str],
    calls: int,
    step: Callable[[httpx.Client], float],
    pause_s: float = 0.0,
) -> list[float]:
    """Every client runs `step` `calls` times at once with the others, with a pause of 0.5 to 1.5
    times `pause_s` after each (not timed; each client starts at a random point of its first
    pause, as people do); all timings in ms."""
    samples: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens))

    def work(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            step(client)  # warm the connection
            barrier.wait()
            time.sleep(random.uniform(0, pause_s))
            mine: list[float] = []
            for _ in range(calls):
                mine.append(step(client))
                time.sleep(pause_s * random.uniform(0.5, 1.5))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[int(q * (len(ordered) - 1))]


def _review(project_id: int, params: dict[str, object]) -> Callable[[httpx.Client], float]:
    """Take the next image (timed), then accept it (not timed)."""

    def step(client: httpx.Client) -> float:
        started = time.perf_counter()
        answer = client.get(f"/api/v1/projects/{project_id}/review/next", params=params)
        ms = (time.perf_counter() - started) * 1000
        image = answer.json()["image"]
        assert image is not None, answer.text[:200]
        done = client.post(f"/api/v1/images/{image['id']}/review", json={"status": "reviewed"})
        assert done.status_code == 200, done.text[:200]
        return ms

    return step


def _rows(
    name: str, samples: list[float], setting: str, reference: list[float], goal: str
) -> list[Row]:
    """p50, and p95 beside the reference's p95 (with the issue's goal where people are)."""
    return [
        Row(f"{name}, p50", statistics.median(samples), "ms"),
        Row(
            f"{name}, p95",
            _p(samples, 0.95),
            "ms",
            f"images?limit=1, {setting}, p95",
            _p(reference, 0.95),
            goal=goal,
        ),
    ]


def measure(name: str, project_id: int, version: int, calls: int) -> list[Row]:
    emails = _reviewers(name, project_id)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "LABELBAY_DATABASE_URL": _url(name),
            "LABELBAY_STORAGE_URL": f"file://{tmp}/objects",
            "LABELBAY_RATE_LIMIT_ENABLED": "false",
            "LABELBAY_LOG_LEVEL": "WARNING",
        }
        serve = ["serve", "--port", str(port), "--workers", str(API_PROCESSES)]
        server = subprocess.Popen(
            [sys.executable, "-m", "labelbay.cli", *serve],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base)
            tokens = [
                httpx.post(
                    f"{base}/api/v1/auth/token", data={"username": e, "password": PASSWORD}
                ).json()["access_token"]
                for e in emails
            ]
            rows: list[Row] = []

            def listing(client: httpx.Client) -> float:
                started = time.perf_counter()
                answer = client.get(f"/api/v1/projects/{project_id}/images", params={"limit": 1})
                ms = (time.perf_counter() - started) * 1000
                assert answer.status_code == 200, answer.text[:200]
                return ms

            for setting, clients, pause, goal in (
                (f"10 reviewers, ~{THINK_S:g} s pause", tokens, THINK_S, "p95 < 50 ms"),
                ("1 reviewer", tokens[:1], 0.0, "p95 < 50 ms"),
                ("10 clients, no pause", tokens, 0.0, ""),
            ):
                per_client = calls * len(tokens) // len(clients) if not pause else calls
                reference = _concurrent(base, clients, per_client, listing, pause)
                for strategy, params in (
                    ("uncertain", {"strategy": "uncertain", "model_version_id": version}),
                    ("unreviewed", {"strategy": "unreviewed"}),
                    ("random", {"strategy": "random", "seed": "bench"}),
                ):
                    samples = _concurrent(
                        base, clients, per_client, _review(project_id, params), pause
                    )
                    rows += _rows(
                        f"review/next ({strategy}), {setting}", samples, setting, reference, goal
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return rows


def run(images: int | None = None, calls: int = 30) -> list[Row]:
    images = images or int(os.environ.get("LABELBAY_BENCH_REVIEW_IMAGES", "100000"))
    with fresh_database() as name:
        project_id, version, seconds = seed(name, images)
        rows = [Row(f"seed {images:,} images + {images * MODELS:,} predictions", seconds, "s")]
        rows += measure(name, project_id, version, calls)
    return rows


if __name__ == "__main__":
    from bench.report import print_table

    print_table(run(), "Review queue (PostgreSQL, 100k images, 1M predictions, 10 reviewers)")
