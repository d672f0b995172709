"""Scale: a 100,000-image project with 1,000,000 predictions in a fresh PostgreSQL database.

Seeded with COPY (psycopg), then measured through the API in process (auth, query, serialisation):
the image list page at random depths (keyset cursors), a filtered list, a count, and the COCO export
of one model's predictions, run in a child process that reads its own peak RSS (VmHWM in
/proc/self/status; `ru_maxrss` would report the parent's peak, which survives fork + exec).
PostgreSQL: `LABELBAY_BENCH_PG_ADMIN_DSN` (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from bench.report import Row
from bench.serving import free_port, wait_until_healthy

ADMIN_DSN = os.environ.get(
    "LABELBAY_BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
EMAIL = "bench@example.com"
PASSWORD = "bench-password-1"
LABELS = ["bird", "cat", "dog", "fish"]
MODELS = 10  # 100k images x 10 model versions = 1M prediction rows


def _url(name: str, driver: str = "postgresql+psycopg") -> str:
    return f"{driver}://{ADMIN_DSN.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"labelbay_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@contextmanager
def bulk_load(name: str, project_id: int) -> Iterator[psycopg.Connection]:
    """A connection of database `name` to seed project `project_id` by COPY with its row
    triggers off (`session_replication_role = replica`: the triggers that keep `project_counts`,
    migration 0017, would run once a row); then commit, count the project's rows once, ANALYZE."""
    from labelbay.db.counts import rebuild_project_counts
    from labelbay.db.session import make_engine

    with psycopg.connect(_url(name, "postgresql")) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn
        conn.commit()
        engine = make_engine(_url(name))
        with engine.begin() as connection:
            rebuild_project_counts(connection, project_id=project_id)
        engine.dispose()
        conn.execute("ANALYZE")


def new_project(name: str, *, project: str, labels: list[str]) -> tuple[int, int]:
    """Migrate the fresh database `name` and make its admin and a project with the label set;
    returns (project id, owner id). The rows the benchmarks then bulk-load belong to these."""
    from labelbay.db.migrate import upgrade
    from labelbay.db.session import make_engine, make_sessionmaker, transaction
    from labelbay.services.projects import create_project
    from labelbay.services.users import create_user

    upgrade(_url(name))
    engine = make_engine(_url(name))
    with transaction(make_sessionmaker(engine)) as session:
        owner = create_user(session, email=EMAIL, password=PASSWORD, is_admin=True)
        made = create_project(session, owner=owner, name=project, labels=labels)
        ids = made.id, owner.id
    engine.dispose()
    return ids


def seed(name: str, images: int) -> tuple[int, float]:
    """A user, a project, `MODELS` model versions, the images and one prediction per image and
    model; returns (project id, seconds spent)."""
    from labelbay.db.base import uuid7

    project_id, owner_id = new_project(name, project="scale", labels=LABELS)
    now = datetime.now(UTC)
    started = time.perf_counter()
    rng = random.Random(7)
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
                meta = json.dumps({"camera": f"cam{i % 20}", "day": i % 31})
                status = "reviewed" if i % 10 == 0 else "unreviewed"
                key = f"images/2026/01/01/{image_id}.jpg"
                facts = (f"img{i:06d}.jpg", key, "image/jpeg", 50_000, 640, 480, "0" * 64)
                copy.write_row((image_id, project_id, *facts, meta, owner_id, status, now, now))
        detections = [json.dumps(_detections(rng, n)) for n in (0, 1, 2, 3, 3, 5) for _ in range(4)]
        columns = (
            "image_id, model_version_id, detections, num_detections, review, "
            "processing_time_ms, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY predictions ({columns}) FROM STDIN") as copy:
            for version in versions:
                for i, image_id in enumerate(ids):
                    rows = detections[i % len(detections)]
                    copy.write_row(
                        (image_id, version, rows, rows.count('"kind"'), "{}", 5.0, now, now)
                    )
    return project_id, time.perf_counter() - started


def _detections(rng: random.Random, n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for _ in range(n):
        x, y = rng.uniform(0, 500), rng.uniform(0, 350)
        box = {
            "x1": round(x, 2),
            "y1": round(y, 2),
            "x2": round(x + 100, 2),
            "y2": round(y + 80, 2),
        }
        label = rng.randrange(len(LABELS))
        out.append(
            {
                "kind": "box",
                "label": LABELS[label],
                "class_id": label,
                "score": 0.5,
                "geometry": box,
            }
        )
    return out


def _timed(request: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        request()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def measure(name: str, project_id: int, runs: int) -> list[Row]:
    from labelbay.api.app import create_app
    from labelbay.config import Settings
    from labelbay.services.images import encode_cursor

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=_url(name),
        storage_url="file:///tmp/labelbay-bench-scale",
        rate_limit_enabled=False,
        log_level="WARNING",
    )
    rows: list[Row] = []
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        url = f"/api/v1/projects/{project_id}/images"
        with psycopg.connect(_url(name, "postgresql")) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM images ORDER BY random() LIMIT 500")]
        cursors = iter([encode_cursor(i) for i in ids] * (runs // len(ids) + 1))

        def page() -> None:
            answer = client.get(url, params={"limit": 50, "cursor": next(cursors)})
            assert answer.status_code == 200, answer.text[:200]
            assert answer.json()["images"]

        def filtered() -> None:
            params = {"limit": 50, "review_status": "reviewed", "metadata.camera": "cam10"}
            answer = client.get(url, params={**params, "cursor": next(cursors)})
            assert answer.status_code == 200, answer.text[:200]

        def count() -> None:
            answer = client.get(url, params={"limit": 1, "with_total": "true"})
            assert answer.json()["total"] > 0

        for title, request in (
            ("image list page (50, random depth)", page),
            ("filtered list (status + metadata, 50)", filtered),
            ("count of the project's images", count),
        ):
            request()  # warm
            p50, p95 = _timed(request, runs)
            goal = "p95 < 50 ms" if request is page else ""
            rows += [
                Row(f"{title} p50", p50, "ms"),
                Row(f"{title} p95", p95, "ms", goal=goal),
            ]
    return rows


def export_child(name: str, project_id: int, selection: str) -> None:
    """In the child: stream the COCO export of model1's predictions to /dev/null; `selection`
    "none" selects no image (the baseline: the same process and imports, no rows)."""
    from labelbay.db.models import ModelVersion
    from labelbay.db.session import make_engine, make_sessionmaker
    from labelbay.exports.formats import stream_export
    from labelbay.services.images import ImageFilter
    from labelbay.services.projects import label_names

    engine = make_engine(_url(name))
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        model = session.query(ModelVersion).filter_by(name="model1").one()
        categories = label_names(session, project_id=project_id, model=model)
    size = 0
    with open(os.devnull, "wb") as out:
        for chunk in stream_export(
            sessions,
            project_id=project_id,
            format="coco",
            source="predictions",
            model=model,
            categories=categories,
            image_filter=ImageFilter(filename="no such image" if selection == "none" else None),
        ):
            size += len(chunk)
            out.write(chunk)
    print(size, peak_rss_kib())


def peak_rss_kib() -> int:
    """This process's own high-water mark of resident memory, in KiB (Linux): VmHWM belongs to
    the address space, so unlike `ru_maxrss` it does not carry the parent's peak across exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _export_process(name: str, project_id: int, selection: str) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, bytes written) of one export child process."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-m", "bench.bench_scale", "export", name, str(project_id), selection],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    size, peak_kib = (int(v) for v in child.stdout.split()[-2:])
    return seconds, peak_kib / 1024, size


def measure_export(name: str, project_id: int) -> list[Row]:
    _, baseline, _ = _export_process(name, project_id, "none")
    seconds, peak, size = _export_process(name, project_id, "all")
    return [
        Row(f"COCO export, 100k images ({size / 2**20:,.0f} MiB), time", seconds, "s"),
        Row(
            "COCO export peak RSS (child process)",
            peak,
            "MiB",
            "same process exporting no image",
            baseline,
            goal="< 300 MiB",
        ),
    ]


def measure_ui(name: str, project_id: int, runs: int = 5) -> list[Row]:
    """The web app: navigation to the 100k-image project until its first grid page shows, with
    thumbnails, in headless Chromium against a real `labelbay serve` (first page's objects only)."""
    import io
    import shutil
    import tempfile

    import httpx
    from PIL import Image

    frontend = Path(__file__).resolve().parent.parent / "frontend"
    static = Path(__file__).resolve().parent.parent / "src/labelbay/static/app/index.html"
    if not (Path("/usr/bin/chromium").exists() and shutil.which("node") and static.exists()):
        print("web app timing skipped: needs /usr/bin/chromium, node and a built frontend")
        return []
    with psycopg.connect(_url(name, "postgresql")) as conn:
        keys = [
            row[0]
            for order in ("ASC", "DESC")
            for row in conn.execute(f"SELECT storage_key FROM images ORDER BY id {order} LIMIT 200")
        ]
    with tempfile.TemporaryDirectory() as tmp:
        buf = io.BytesIO()
        Image.new("RGB", (640, 480), (90, 120, 150)).save(buf, "JPEG")
        for key in keys:
            target = Path(tmp) / "objects" / "input" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(buf.getvalue())
        port = free_port()
        env = {
            **os.environ,
            "LABELBAY_DATABASE_URL": _url(name),
            "LABELBAY_STORAGE_URL": f"file://{tmp}/objects",
            "LABELBAY_RATE_LIMIT_ENABLED": "false",
            "LABELBAY_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "labelbay.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base)
            token = httpx.post(
                f"{base}/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD}
            ).json()["access_token"]
            out = subprocess.run(
                ["node", "bench/first-page.mjs", base, token, str(project_id), str(runs)],
                cwd=frontend,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return [
        Row(
            "web app: first grid page of 100k images",
            statistics.median(times),
            "ms",
            f"median of {runs} loads; goal",
            1000.0,
            goal="< 1 s",
        )
    ]


def run(images: int = 100_000, runs: int = 200) -> list[Row]:
    with fresh_database() as name:
        project_id, seconds = seed(name, images)
        rows = [Row(f"seed {images:,} images + {images * MODELS:,} predictions", seconds, "s")]
        rows += measure(name, project_id, runs)
        rows += measure_export(name, project_id)
        rows += measure_ui(name, project_id)
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["export"]:
        export_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        from bench.report import print_table

        print_table(run(), "Scale (PostgreSQL, 100k images, 1M predictions)")
