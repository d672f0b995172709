"""The pipeline's six steps end to end on both stacks, then reading and exporting what it posted."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.analyses.support import (
    IMAGE_H,
    IMAGE_W,
    SECRET,
    Pipeline,
    get_bytes,
    put_bytes,
    raw_artifact,
)
from tests.api.factories import png_bytes
from tests.support.stack import LiveServer, Stack

ROOT = Path(__file__).resolve().parents[2]


def annotations_for(storage_path: str) -> list[dict[str, Any]]:
    return [
        {
            "annotation_type": "bounding_box",
            "class_name": "cat",
            "confidence": 0.95,
            "data": {"x_min": 10, "y_min": 20, "x_max": 60.5, "y_max": 48, "track": 7},
            "storage_path": None,
        },
        {
            "annotation_type": "heatmap",
            "class_name": None,
            "confidence": None,
            "data": {"width": 32, "height": 24},
            "storage_path": storage_path,
        },
        {
            "annotation_type": "polygon",
            "class_name": "road, left lane",  # a comma, so the CSV must quote
            "confidence": 0.333333333333,
            "data": {"points": [[0, 0], [IMAGE_W, 0], [IMAGE_W, IMAGE_H]]},
            "storage_path": None,
        },
        {
            "annotation_type": "circle",
            "class_name": "ball",
            "confidence": 0.0,
            "data": {"x": 32, "y": 24, "radius": 5},
            "storage_path": None,
        },
        {
            "annotation_type": "classification",
            "class_name": 'indoor "kitchen"',
            "confidence": 1.0,
            "data": {"top_k": [["kitchen", 0.9], ["office", 0.1]]},
            "storage_path": None,
        },
        {
            "annotation_type": "keypoints",
            "class_name": "person",
            "confidence": 0.5,
            "data": {"points": [{"x": 1, "y": 2, "name": "nose"}, [3, 4, 2]]},
            "storage_path": None,
        },
    ]


def test_six_steps_then_read_and_export(
    stack: Stack, pipeline: Pipeline, owner: dict[str, str], image_id: str
) -> None:
    # 1. create: queued, with the image's size for the pipeline
    created = pipeline.create(image_id)
    assert created["status"] == "queued"
    assert (created["image_width"], created["image_height"]) == (IMAGE_W, IMAGE_H)
    assert created["source"] == "pipeline"
    analysis_id = created["id"]
    base = f"/api/analyses/{analysis_id}"

    # 2. processing
    moved = pipeline.ok("PATCH", f"{base}/status", {"status": "processing"})
    assert moved["status"] == "processing"
    assert moved["started_at"] is not None

    # 3. presign an artifact
    presigned = pipeline.ok(
        "POST", f"{base}/artifacts/presign", {"artifact_type": "heatmap", "filename": "heatmap.png"}
    )
    storage_path = presigned["storage_path"]
    assert storage_path == f"ml_outputs/{analysis_id}/heatmap.png"
    if stack.name == "distributed":
        assert "X-Amz-Signature" in presigned["upload_url"]
    else:
        assert "/api/analysis-files/" in presigned["upload_url"]

    # 4. PUT the bytes to the presigned URL, then read them back without labelbay
    heatmap = png_bytes(32, 24, seed=3)
    put = put_bytes(stack, presigned["upload_url"], heatmap)
    assert put.status_code == 200, put.text
    assert raw_artifact(stack, storage_path) == heatmap

    # 5. annotations
    posted = annotations_for(storage_path)
    bulk = pipeline.ok("POST", f"{base}/annotations:bulk", {"annotations": posted}, status=201)
    assert bulk["created"] == len(posted)

    # 6. finalize
    final = pipeline.ok("POST", f"{base}/finalize", {"status": "completed"})
    assert final["status"] == "completed"
    assert final["annotation_count"] == len(posted)
    assert final["finished_at"] is not None

    # The owner reads it: listed under the image, annotations as posted, the artifact downloadable.
    listed = stack.client.get(f"/api/images/{image_id}/analyses", headers=owner)
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()["analyses"]] == [analysis_id]
    detail = stack.client.get(base, headers=owner)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    fields = ("annotation_type", "class_name", "confidence", "data", "storage_path")
    assert [{k: a[k] for k in fields} for a in body["annotations"]] == posted
    [artifact] = body["artifacts"]
    assert artifact["verified"] is True
    assert artifact["size_bytes"] == len(heatmap)
    assert artifact["content_type"] == "image/png"
    download = get_bytes(stack, artifact["url"])
    assert download.status_code == 200
    assert download.content == heatmap

    # JSON export, re-read by json
    exported = stack.client.get(f"{base}/export", params={"format": "json"}, headers=owner)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/json")
    document = json.loads(exported.content)
    assert document["analysis"]["id"] == analysis_id
    assert document["analysis"]["model_name"] == "yolo_v8"
    assert document["analysis"]["parameters"] == {"threshold": 0.5}
    assert [{k: a[k] for k in fields} for a in document["annotations"]] == posted
    assert document["artifacts"][0]["storage_path"] == storage_path

    # CSV export, re-read by csv
    exported = stack.client.get(f"{base}/export", params={"format": "csv"}, headers=owner)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(posted)
    for row, sent in zip(rows, posted, strict=True):
        assert row["analysis_id"] == analysis_id
        assert row["annotation_type"] == sent["annotation_type"]
        assert row["class_name"] == (sent["class_name"] or "")
        confidence = None if row["confidence"] == "" else float(row["confidence"])
        assert confidence == sent["confidence"]
        assert json.loads(row["data"]) == sent["data"]
        assert row["storage_path"] == (sent["storage_path"] or "")
    box = rows[0]
    assert [float(box[k]) for k in ("x_min", "y_min", "x_max", "y_max")] == [10, 20, 60.5, 48]


def test_manager_may_create_and_members_may_read(
    stack: Stack, pipeline: Pipeline, owner: dict[str, str], image_id: str
) -> None:
    created = stack.client.post(
        f"/api/images/{image_id}/analyses",
        json={"model_name": "resnet50_classifier", "model_version": "2"},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "user"
    analysis_id = created.json()["id"]

    project_id = stack.client.get(f"/api/v1/images/{image_id}", headers=owner).json()["project_id"]
    viewer = stack.user("viewer@example.com")
    annotator = stack.user("annotator@example.com")
    outsider = stack.user("outsider@example.com")
    for email, role in (("viewer@example.com", "viewer"), ("annotator@example.com", "annotator")):
        added = stack.client.put(
            f"/api/v1/projects/{project_id}/members",
            json={"email": email, "role": role},
            headers=owner,
        )
        assert added.status_code == 200, added.text

    assert stack.client.get(f"/api/analyses/{analysis_id}", headers=viewer).status_code == 200
    assert stack.client.get(f"/api/images/{image_id}/analyses", headers=viewer).status_code == 200
    refused = stack.client.post(
        f"/api/images/{image_id}/analyses", json={"model_name": "yolo_v8"}, headers=annotator
    )
    assert refused.status_code == 403
    assert "manager" in refused.json()["detail"]
    for path in (f"/api/analyses/{analysis_id}", f"/api/analyses/{analysis_id}/export"):
        hidden = stack.client.get(path, headers=outsider)
        assert hidden.status_code == 404
        assert hidden.json()["detail"] == f"analysis {analysis_id} not found"
    assert stack.client.get(f"/api/images/{image_id}/analyses", headers=outsider).status_code == 404
    assert stack.client.get(f"/api/analyses/{analysis_id}").status_code == 401
    # A bearer token does not open the pipeline routes.
    patched = stack.client.patch(
        f"/api/analyses/{analysis_id}/status", json={"status": "processing"}, headers=owner
    )
    assert patched.status_code == 401


def test_simulate_pipeline_script_completes(
    live_server: LiveServer, owner: dict[str, str], image_id: str
) -> None:
    env = {**os.environ, "ML_CALLBACK_HMAC_SECRET": SECRET}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "simulate_pipeline.py"),
            "--image-id",
            image_id,
            "--base-url",
            live_server.base_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed" in done.stdout
    stack = live_server.stack
    [analysis] = stack.client.get(f"/api/images/{image_id}/analyses", headers=owner).json()[
        "analyses"
    ]
    assert analysis["status"] == "completed"
    assert analysis["annotation_count"] == 6
