"""Evaluation at scale: 100,000 images, 1,000,000 predictions, 300,000 annotations on PostgreSQL.

Seeded with COPY, the row triggers off and the project's counts rebuilt once after
(`bench_scale.bulk_load`). Two child processes, each reading its own peak RSS (VmHWM, as `bench_scale`):
- labelbay: `services.evaluations.run_evaluation` (reads the labels page by page from SQL,
  evaluates, stores the report and 100k per-image rows, commits);
- pycocotools: `COCO` + `loadRes` + `COCOeval(iouType="bbox")` evaluate/accumulate/summarize on
  the project's own COCO exports (annotations as ground truth, the model's predictions as results),
  written beforehand by the export code, so both read the same boxes.
The table shows both times and peaks, and the largest difference of the 12 summary numbers.
`LABELBAY_BENCH_EVAL_IMAGES` makes it smaller (default 100000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.bench_scale import (
    EMAIL,
    PASSWORD,
    _timed,
    _url,
    bulk_load,
    fresh_database,
    new_project,
    peak_rss_kib,
)
from bench.report import Row

LABELS = ["bird", "cat", "dog", "fish", "horse", "sheep", "cow", "car", "bus", "bike"]
GT_PER_IMAGE = 3
PRED_PER_IMAGE = 10
SUMMARY = ("map", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100",
           "ar_small", "ar_medium", "ar_large")  # fmt: skip


def seed(name: str, images: int) -> tuple[int, float]:
    """A project of `images` 640x480 images, 3 annotated boxes and 10 predictions each: two
    jittered guesses per box (one in ten of the wrong class) and four false alarms."""
    from labelbay.db.base import uuid7

    project_id, owner_id = new_project(name, project="evaluation", labels=LABELS)
    started = time.perf_counter()
    now = datetime.now(UTC)
    rng = np.random.default_rng(11)
    n_gt = images * GT_PER_IMAGE
    wh = rng.uniform(8, 260, (n_gt, 2))
    xy = rng.uniform(0, 1, (n_gt, 2)) * (np.array([640, 480]) - wh)
    gt = np.round(np.c_[xy, xy + wh], 2)
    gt_class = rng.integers(0, len(LABELS), n_gt)
    guesses = np.repeat(np.arange(n_gt), 2)
    jitter = rng.normal(0, 0.07, (len(guesses), 4)) * np.tile(wh[guesses], 2)
    near = np.clip(gt[guesses] + jitter, 0, [640, 480, 640, 480])
    near_class = np.where(
        rng.random(len(guesses)) < 0.1,
        rng.integers(0, len(LABELS), len(guesses)),
        gt_class[guesses],
    )
    n_far = images * (PRED_PER_IMAGE - 2 * GT_PER_IMAGE)
    far_wh = rng.uniform(8, 200, (n_far, 2))
    far_xy = rng.uniform(0, 1, (n_far, 2)) * (np.array([640, 480]) - far_wh)
    far = np.c_[far_xy, far_xy + far_wh]
    with bulk_load(name, project_id) as conn:
        version = conn.execute(
            "INSERT INTO model_versions (name, version, task, format, class_names, "
            "confidence_threshold, iou_threshold, max_detections, options, is_active, created_at) "
            "VALUES ('model', '1', 'detect', 'builtin', %s, 0.25, 0.45, 300, '{}', true, %s) "
            "RETURNING id",
            (json.dumps(LABELS), now),
        ).fetchone()[0]  # type: ignore[index]
        ids = [uuid7() for _ in range(images)]
        columns = (
            "id, project_id, original_filename, storage_key, mime_type, size_bytes, width, "
            "height, sha256, metadata, uploaded_by_id, review_status, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY images ({columns}) FROM STDIN") as copy:
            for i, image_id in enumerate(ids):
                key = f"images/2026/01/01/{image_id}.jpg"
                facts = (f"img{i:06d}.jpg", key, "image/jpeg", 50_000, 640, 480, "0" * 64)
                copy.write_row((image_id, project_id, *facts, "{}", owner_id, "reviewed", now, now))
        columns = "image_id, kind, label, geometry, source, attributes, created_by_id, created_at, updated_at"
        with conn.cursor().copy(f"COPY annotations ({columns}) FROM STDIN") as copy:
            for g in range(n_gt):
                x1, y1, x2, y2 = gt[g]
                geometry = f'{{"x1": {x1}, "y1": {y1}, "x2": {x2}, "y2": {y2}}}'
                row = (ids[g // GT_PER_IMAGE], "box", LABELS[gt_class[g]], geometry, "human")
                copy.write_row((*row, "{}", owner_id, now, now))
        per_image_near = 2 * GT_PER_IMAGE
        per_image_far = PRED_PER_IMAGE - per_image_near
        scores = np.round(rng.random(images * PRED_PER_IMAGE), 4)
        columns = (
            "image_id, model_version_id, detections, num_detections, review, "
            "processing_time_ms, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY predictions ({columns}) FROM STDIN") as copy:
            for i, image_id in enumerate(ids):
                boxes = [
                    *zip(near[i * per_image_near : (i + 1) * per_image_near],
                         near_class[i * per_image_near : (i + 1) * per_image_near], strict=True),
                    *zip(far[i * per_image_far : (i + 1) * per_image_far],
                         rng.integers(0, len(LABELS), per_image_far), strict=True),
                ]  # fmt: skip
                labels = [
                    {
                        "kind": "box",
                        "label": LABELS[c],
                        "class_id": int(c),
                        "score": float(scores[i * PRED_PER_IMAGE + n]),
                        "geometry": dict(
                            zip(("x1", "y1", "x2", "y2"), np.round(b, 2).tolist(), strict=True)
                        ),
                    }
                    for n, (b, c) in enumerate(boxes)
                    if b[2] - b[0] > 0.01 and b[3] - b[1] > 0.01
                ]
                data = json.dumps(labels)
                copy.write_row((image_id, version, data, len(labels), "{}", 5.0, now, now))
    return project_id, time.perf_counter() - started


def labelbay_child(name: str, project_id: int) -> None:
    """In the child: one evaluation run, committed; prints seconds, peak KiB and the summary."""
    from labelbay.db.models import ModelVersion, Project
    from labelbay.db.session import make_engine, make_sessionmaker, transaction
    from labelbay.services.evaluations import run_evaluation

    sessions = make_sessionmaker(make_engine(_url(name)))
    started = time.perf_counter()
    with transaction(sessions) as session:
        project = session.get(Project, project_id)
        model = session.query(ModelVersion).filter_by(name="model").one()
        assert project is not None
        row = run_evaluation(
            session, project=project, user=None, model=model, ground_truth="annotations"
        )
        metrics = {key: row.metrics[key] for key in SUMMARY}
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_kib": peak_rss_kib(), "metrics": metrics}))


def cocoeval_child(gt_path: str, pred_path: str) -> None:
    """In the child: pycocotools on the exported files; prints seconds, peak KiB and stats."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_path)
        with open(pred_path, encoding="utf-8") as file:
            results = json.load(file)["annotations"]
        coco_dt = coco_gt.loadRes(results)
        del results
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    seconds = time.perf_counter() - started
    metrics = dict(zip(SUMMARY, (float(v) for v in evaluator.stats), strict=True))
    print(json.dumps({"seconds": seconds, "peak_kib": peak_rss_kib(), "metrics": metrics}))


def export_files(name: str, project_id: int, folder: Path) -> tuple[Path, Path]:
    """The project's COCO exports: annotations (ground truth) and the model's predictions."""
    from labelbay.db.models import ModelVersion
    from labelbay.db.session import make_engine, make_sessionmaker
    from labelbay.exports.formats import stream_export
    from labelbay.services.projects import label_names

    sessions = make_sessionmaker(make_engine(_url(name)))
    with sessions() as session:
        model = session.query(ModelVersion).filter_by(name="model").one()
        categories = label_names(session, project_id=project_id, model=model)
    paths = []
    for source in ("annotations", "predictions"):
        path = folder / f"{source}.json"
        with path.open("wb") as out:
            for chunk in stream_export(
                sessions,
                project_id=project_id,
                format="coco",
                source=source,  # type: ignore[arg-type]
                model=model,
                categories=categories,
                image_filter=None,
            ):
                out.write(chunk)
        paths.append(path)
    return paths[0], paths[1]


def measure_stats(name: str, project_id: int, runs: int = 20) -> list[Row]:
    """GET /projects/{id}/stats through the API in process: without a model's labels per class,
    and with them (1M stored labels unnested)."""
    from fastapi.testclient import TestClient

    from labelbay.api.app import create_app
    from labelbay.config import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=_url(name),
        storage_url="file:///tmp/labelbay-bench-eval",
        rate_limit_enabled=False,
        log_level="WARNING",
    )
    rows = []
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        url = f"/api/v1/projects/{project_id}/stats"
        for title, params in (("", {}), (" + one model's labels per class", {"model": "model"})):

            def stats(params: dict[str, str] = params) -> None:
                answer = client.get(url, params=params)
                assert answer.status_code == 200, answer.text[:200]

            stats()
            p50, p95 = _timed(stats, runs)
            rows += [
                Row(f"stats{title} p50", p50, "ms"),
                Row(f"stats{title} p95", p95, "ms", goal="p95 < 200 ms"),
            ]
    return rows


def _child(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_eval", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(images: int = int(os.environ.get("LABELBAY_BENCH_EVAL_IMAGES", "100000"))) -> list[Row]:
    with fresh_database() as name, tempfile.TemporaryDirectory() as tmp:
        project_id, seconds = seed(name, images)
        gt_path, pred_path = export_files(name, project_id, Path(tmp))
        ours = _child("labelbay", name, str(project_id))
        theirs = _child("cocoeval", str(gt_path), str(pred_path))
        stats = measure_stats(name, project_id)
    ours_m, theirs_m = ours["metrics"], theirs["metrics"]
    assert isinstance(ours_m, dict)
    assert isinstance(theirs_m, dict)
    diff = max(abs(float(ours_m[k]) - float(theirs_m[k])) for k in SUMMARY)
    size = f"{images:,} images, {images * PRED_PER_IMAGE:,} predictions, {images * GT_PER_IMAGE:,} boxes"
    return [
        Row(f"seed {size}", seconds, "s"),
        Row(
            "evaluation (read from SQL, store), time",
            float(ours["seconds"]),  # type: ignore[arg-type]
            "s",
            "pycocotools COCOeval on the COCO export",
            float(theirs["seconds"]),  # type: ignore[arg-type]
            goal="<= 0.5x",
        ),
        Row(
            "evaluation peak RSS (child process)",
            int(ours["peak_kib"]) / 1024,  # type: ignore[call-overload]
            "MiB",
            "pycocotools COCOeval peak RSS",
            int(theirs["peak_kib"]) / 1024,  # type: ignore[call-overload]
            goal="< 300 MiB",
        ),
        Row("largest difference of the 12 COCO numbers x 1e6", diff * 1e6, "", goal="< 100"),
        Row(
            "mAP@[.50:.95] (labelbay)", float(ours_m["map"]), "", "COCOeval", float(theirs_m["map"])
        ),
        *stats,
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["labelbay"]:
        labelbay_child(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["cocoeval"]:
        cocoeval_child(sys.argv[2], sys.argv[3])
    else:
        from bench.report import print_table

        print_table(run(), "Evaluation (PostgreSQL): labelbay vs pycocotools COCOeval")
