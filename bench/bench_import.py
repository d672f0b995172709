"""Label import: a 100,000-image COCO file (3 boxes per image) onto the images of a project in a
fresh PostgreSQL database, through the job's own code (`start_label_import` with the inline
executor: the upload kept in the artifacts location, read back, streamed, matched, written).

Each step runs in a child process that reports its own peak RSS (VmHWM in /proc/self/status):
the import, its re-run (which changes nothing), and the references measured in the same run on
the same file: `json.load` + pycocotools' `COCO()` (what reading the file whole costs) and a plain
COPY of the same 300,000 annotation rows (what writing them costs at least).
PostgreSQL: `LABELBAY_BENCH_PG_ADMIN_DSN` (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.bench_scale import _url, bulk_load, fresh_database, new_project, peak_rss_kib
from bench.report import Row

LABELS = ["bird", "cat", "dog", "fish"]
BOXES = 3
IMAGES = int(os.environ.get("LABELBAY_BENCH_IMPORT_IMAGES", "100000"))


def seed(name: str, images: int) -> tuple[int, int]:
    """The project's images (COPY), named img000000.jpg…, 640x480; (project id, owner id)."""
    from labelbay.db.base import uuid7

    project_id, owner_id = new_project(name, project="import", labels=LABELS)
    now = datetime.now(UTC)
    columns = (
        "id, project_id, original_filename, storage_key, mime_type, size_bytes, width, "
        "height, sha256, metadata, uploaded_by_id, review_status, created_at, updated_at"
    )
    with (
        bulk_load(name, project_id) as conn,
        conn.cursor().copy(f"COPY images ({columns}) FROM STDIN") as copy,
    ):
        for i in range(images):
            image_id = uuid7()
            key = f"images/2026/01/01/{image_id}.jpg"
            facts = (f"img{i:06d}.jpg", key, "image/jpeg", 50_000, 640, 480, f"{i:064x}")
            copy.write_row((image_id, project_id, *facts, "{}", owner_id, "unreviewed", now, now))
    return project_id, owner_id


def write_coco(path: Path, images: int) -> None:
    """A COCO file as tools write it: images, then annotations, then categories."""
    rng = random.Random(11)
    with path.open("w") as out:
        out.write('{"images": [')
        out.write(
            ",".join(
                json.dumps(
                    {"id": i + 1, "file_name": f"img{i:06d}.jpg", "width": 640, "height": 480}
                )
                for i in range(images)
            )
        )
        out.write('], "annotations": [')
        number = 0
        for i in range(images):
            for _ in range(BOXES):
                number += 1
                x, y = round(rng.uniform(0, 500), 2), round(rng.uniform(0, 350), 2)
                annotation = {
                    "id": number,
                    "image_id": i + 1,
                    "category_id": rng.randrange(len(LABELS)) + 1,
                    "bbox": [x, y, 100.0, 80.0],
                    "area": 8000.0,
                    "iscrowd": 0,
                    "segmentation": [[x, y, x + 100, y, x + 100, y + 80, x, y + 80]],
                }
                out.write(("," if number > 1 else "") + json.dumps(annotation))
        categories = [{"id": i + 1, "name": n} for i, n in enumerate(LABELS)]
        out.write('], "categories": ' + json.dumps(categories) + "}")


def import_child(name: str, project_id: int, path: str, storage: str) -> None:
    """One import job, run here; prints its counts, seconds and peak RSS."""
    from labelbay.config import Settings
    from labelbay.db.models import Job, Project, User
    from labelbay.imports.label_files import keep_upload
    from labelbay.jobs.executors import InlineExecutor
    from labelbay.jobs.start import start_label_import
    from labelbay.runtime import build_runtime

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=_url(name), storage_url=storage, log_level="WARNING"
    )
    deps = build_runtime(settings)
    started = time.perf_counter()
    with deps.sessions() as session, open(path, "rb") as file:
        project = session.get_one(Project, project_id)
        user = session.get(User, project.created_by_id)
        selection = keep_upload(deps, [("instances.json", file)])
        options = {"format": "coco", "target": "annotations", "with_images": False}
        job = start_label_import(
            session,
            executor=InlineExecutor(deps),
            project=project,
            user=user,
            selection=selection,
            options=options,
            model_version_id=None,
        )
        job_id = job.id
    seconds = time.perf_counter() - started
    with deps.sessions() as session:
        done = session.get_one(Job, job_id)
        assert done.status == "completed", done.error
        progress = dict(done.progress)
    print(json.dumps({"seconds": seconds, "peak_kib": peak_rss_kib(), **progress}))


def pycocotools_child(path: str) -> None:
    """The reference reader: the file loaded whole, then indexed by pycocotools."""
    from pycocotools.coco import COCO

    started = time.perf_counter()
    with open(path) as file:
        dataset = json.load(file)
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_kib": peak_rss_kib(), "anns": len(coco.anns)}))


def copy_child(name: str, project_id: int, path: str, owner_id: int) -> None:
    """The reference writer: the same annotation rows with one COPY (ids and names resolved from
    a plain dict of the project's images; no checks)."""
    started = time.perf_counter()
    with psycopg.connect(_url(name, "postgresql")) as conn:
        ids = dict(
            conn.execute(
                "SELECT original_filename, id FROM images WHERE project_id = %s", (project_id,)
            ).fetchall()
        )
        with open(path) as file:
            document = json.load(file)
        names = {i["id"]: i["file_name"] for i in document["images"]}
        categories = {c["id"]: c["name"] for c in document["categories"]}
        now = datetime.now(UTC)
        columns = (
            "image_id, kind, label, geometry, source, attributes, created_by_id, created_at, "
            "updated_at"
        )
        with conn.cursor().copy(f"COPY annotations ({columns}) FROM STDIN") as copy:
            for a in document["annotations"]:
                x, y, w, h = a["bbox"]
                geometry = json.dumps({"x1": x, "y1": y, "x2": x + w, "y2": y + h})
                label = categories[a["category_id"]]
                image = ids[names[a["image_id"]]]
                copy.write_row((image, "box", label, geometry, "human", "{}", owner_id, now, now))
        conn.rollback()  # measured, not kept
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_kib": peak_rss_kib()}))


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_import", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(images: int = IMAGES) -> list[Row]:
    with fresh_database() as name, tempfile.TemporaryDirectory() as tmp:
        project_id, owner_id = seed(name, images)
        path = Path(tmp) / "instances.json"
        write_coco(path, images)
        size = path.stat().st_size / 2**20
        storage = f"file://{tmp}/objects"
        first = _child("import", name, str(project_id), str(path), storage)
        again = _child("import", name, str(project_id), str(path), storage)
        reader = _child("pycocotools", str(path))
        writer = _child("copy", name, str(project_id), str(path), str(owner_id))
    labels = images * BOXES
    assert (first["labels_added"], first["problems"]) == (labels, 0), first
    assert (again["labels_added"], again["unchanged"]) == (0, labels), again
    return [
        Row(
            f"COCO import {images:,} images ({size:,.0f} MiB), time",
            first["seconds"],
            "s",
            "COPY of the same rows (no checks)",
            writer["seconds"],
            goal="<= 8x",
        ),
        Row(
            "COCO import, labels per second",
            labels / first["seconds"],
            "i/s",
        ),
        Row(
            "COCO import peak RSS (child process)",
            first["peak_kib"] / 1024,
            "MiB",
            "json.load + pycocotools COCO()",
            reader["peak_kib"] / 1024,
            goal="< 300 MiB",
        ),
        Row(
            "COCO import re-run (changes nothing), time",
            again["seconds"],
            "s",
            "json.load + pycocotools COCO(), time",
            reader["seconds"],
        ),
    ]


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "import":
        import_child(rest[0], int(rest[1]), rest[2], rest[3])
    elif command == "pycocotools":
        pycocotools_child(rest[0])
    elif command == "copy":
        copy_child(rest[0], int(rest[1]), rest[2], int(rest[3]))
    else:
        from bench.report import print_table

        print_table(run(), "Label import (PostgreSQL: 100k images, 300k boxes)")
