"""Every way a pipeline request is refused, each with its own status and message, on both stacks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.analyses.support import MAX_ARTIFACT, MAX_BULK, Pipeline, put_bytes
from tests.api.factories import png_bytes
from tests.support.stack import Stack


def box(**data: Any) -> dict[str, Any]:
    return {"annotation_type": "bounding_box", "class_name": "cat", "confidence": 0.9, "data": data}


@dataclass(frozen=True)
class Bad:
    name: str
    annotations: list[dict[str, Any]]
    status: int
    message: str


BAD_ANNOTATIONS = [
    Bad(
        "box outside",
        [box(x_min=10, y_min=10, x_max=65, y_max=20)],
        422,
        "annotations[0]: box (10, 10)-(65, 20) lies outside the image (64x48 pixels)",
    ),
    Bad(
        "negative corner", [box(x_min=-1, y_min=0, x_max=5, y_max=5)], 422, "lies outside the image"
    ),
    Bad("inverted box", [box(x_min=9, y_min=0, x_max=5, y_max=5)], 422, "x_min < x_max"),
    Bad("missing corner", [box(x_min=0, y_min=0, x_max=5)], 422, "data.y_max must be a number"),
    Bad(
        "confidence 1.5",
        [{**box(x_min=0, y_min=0, x_max=5, y_max=5), "confidence": 1.5}],
        422,
        "annotations[0]: confidence 1.5 is outside [0, 1]",
    ),
    Bad(
        "negative confidence",
        [{**box(x_min=0, y_min=0, x_max=5, y_max=5), "confidence": -0.1}],
        422,
        "confidence -0.1 is outside [0, 1]",
    ),
    Bad(
        "unknown type",
        [{"annotation_type": "mesh", "data": {}}],
        422,
        "annotations[0]: unknown annotation_type 'mesh'; known types: bounding_box, heatmap, "
        "polygon, circle, classification, keypoints",
    ),
    Bad(
        "polygon point outside",
        [{"annotation_type": "polygon", "data": {"points": [[0, 0], [10, 0], [10, 49]]}}],
        422,
        "point 2 (10, 49) lies outside",
    ),
    Bad(
        "polygon of two points",
        [{"annotation_type": "polygon", "data": {"points": [[0, 0], [1, 1]]}}],
        422,
        "data.points must be a list of 3",
    ),
    Bad(
        "circle centre outside",
        [{"annotation_type": "circle", "data": {"x": 70, "y": 5, "radius": 2}}],
        422,
        "circle at (70, 5) with radius 2 leaves the image (64x48 pixels)",
    ),
    Bad(
        "circle crossing the edge",
        [{"annotation_type": "circle", "data": {"x": 5, "y": 5, "radius": 20}}],
        422,
        "annotations[0]: circle at (5, 5) with radius 20 leaves the image",
    ),
    Bad(
        "keypoint outside",
        [{"annotation_type": "keypoints", "data": {"points": [{"x": 1, "y": 100}]}}],
        422,
        "point 0 (1, 100) lies outside",
    ),
    Bad(
        "classification without class",
        [{"annotation_type": "classification"}],
        422,
        "a classification needs a class_name",
    ),
    Bad(
        "heatmap citing no artifact",
        [
            {
                "annotation_type": "heatmap",
                "data": {"width": 2, "height": 2},
                "storage_path": "ml_outputs/other/x.png",
            }
        ],
        422,
        "is not an artifact of this analysis",
    ),
    Bad(
        "second item bad",
        [box(x_min=0, y_min=0, x_max=5, y_max=5), box(x_min=0, y_min=0, x_max=5, y_max=50)],
        422,
        "annotations[1]: box",
    ),
    Bad(
        "oversize bulk",
        [box(x_min=0, y_min=0, x_max=5, y_max=5)] * (MAX_BULK + 1),
        413,
        f"{MAX_BULK + 1} annotations in one request; the limit is {MAX_BULK}",
    ),
]


@pytest.mark.parametrize("bad", BAD_ANNOTATIONS, ids=lambda b: b.name)
def test_bad_annotations_are_refused_and_none_stored(
    stack: Stack, pipeline: Pipeline, owner: dict[str, str], image_id: str, bad: Bad
) -> None:
    analysis_id = pipeline.processing(image_id)
    answer = pipeline.send(
        "POST", f"/api/analyses/{analysis_id}/annotations:bulk", {"annotations": bad.annotations}
    )
    assert answer.status_code == bad.status, answer.text
    assert bad.message in answer.json()["detail"]
    detail = stack.client.get(f"/api/analyses/{analysis_id}", headers=owner).json()
    assert detail["annotations"] == []


def _patch_path(analysis_id: str) -> str:
    return f"/api/analyses/{analysis_id}/status"


def test_bad_signature(pipeline: Pipeline, image_id: str) -> None:
    analysis_id = pipeline.create(image_id)["id"]
    path = _patch_path(analysis_id)
    forged = Pipeline(pipeline.stack, secret="not-the-secret")
    answer = forged.send("PATCH", path, {"status": "processing"})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "X-ML-Signature does not match the request"
    # Signed for one body, sent with another.
    headers = pipeline.headers("PATCH", path, b'{"status": "failed"}')
    answer = pipeline.send("PATCH", path, {"status": "processing"}, headers=headers)
    assert answer.status_code == 401
    # Signed for another path.
    headers = pipeline.headers("PATCH", _patch_path(image_id), b'{"status": "processing"}')
    answer = pipeline.send("PATCH", path, {"status": "processing"}, headers=headers)
    assert answer.status_code == 401


def test_missing_headers(pipeline: Pipeline, image_id: str) -> None:
    analysis_id = pipeline.create(image_id)["id"]
    answer = pipeline.send("PATCH", _patch_path(analysis_id), {"status": "processing"}, headers={})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "missing X-ML-Signature or X-ML-Timestamp header"
    answer = pipeline.send(
        "PATCH",
        _patch_path(analysis_id),
        {"status": "processing"},
        headers={"X-ML-Signature": "00", "X-ML-Timestamp": "yesterday"},
    )
    assert answer.status_code == 401
    assert answer.json()["detail"] == "X-ML-Timestamp must be Unix seconds"


# Two seconds past the 300 s window: `int(time.time())` drops up to a second, and the request takes
# time to arrive, so a skew of 301 could land inside the window on a busy machine.
@pytest.mark.parametrize("skew", [-302, 302])
def test_stale_timestamp(pipeline: Pipeline, image_id: str, skew: int) -> None:
    analysis_id = pipeline.create(image_id)["id"]
    answer = pipeline.send(
        "PATCH",
        _patch_path(analysis_id),
        {"status": "processing"},
        timestamp=int(time.time()) + skew,
    )
    assert answer.status_code == 401
    assert answer.json()["detail"] == (
        "X-ML-Timestamp is outside the allowed window of 300 s (check the pipeline's clock)"
    )


def test_replay(stack: Stack, pipeline: Pipeline, image_id: str) -> None:
    analysis_id = pipeline.create(image_id)["id"]
    path = f"/api/analyses/{analysis_id}/artifacts/presign"
    raw = json.dumps({"artifact_type": "heatmap", "filename": "h.png"}).encode()
    headers = pipeline.headers("POST", path, raw)
    first = stack.client.post(path, content=raw, headers=headers)
    assert first.status_code == 200, first.text
    again = stack.client.post(path, content=raw, headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"] == "this signed request was already received (replay refused)"


def test_unknown_model(pipeline: Pipeline, image_id: str) -> None:
    answer = pipeline.send(
        "POST", f"/api/images/{image_id}/analyses", {"image_id": image_id, "model_name": "gpt-9"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "model 'gpt-9' is not allowed here (ML_ALLOWED_MODELS); allowed: yolo_v8, resnet50_classifier"
    )


def test_image_mismatch_and_unknown_image(pipeline: Pipeline, image_id: str) -> None:
    other = "01900000-0000-7000-8000-000000000000"
    answer = pipeline.send(
        "POST", f"/api/images/{image_id}/analyses", {"image_id": other, "model_name": "yolo_v8"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "image_id in the body does not match the path"
    answer = pipeline.send("POST", f"/api/images/{other}/analyses", {"model_name": "yolo_v8"})
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"image {other} not found"


def test_illegal_status_moves(pipeline: Pipeline, image_id: str) -> None:
    analysis_id = pipeline.create(image_id)["id"]
    base = f"/api/analyses/{analysis_id}"
    early = pipeline.send("POST", f"{base}/finalize", {"status": "completed"})
    assert early.status_code == 409
    assert early.json()["detail"].startswith("analysis is queued; it cannot move to completed")
    early_notes = pipeline.send("POST", f"{base}/annotations:bulk", {"annotations": []})
    assert early_notes.status_code == 409
    assert "accepted only while it is processing" in early_notes.json()["detail"]
    pipeline.ok("PATCH", f"{base}/status", {"status": "processing"})
    again = pipeline.send("PATCH", f"{base}/status", {"status": "processing"})
    assert again.status_code == 409
    back = pipeline.send("PATCH", f"{base}/status", {"status": "queued"})
    assert back.status_code == 409
    assert back.json()["detail"].startswith("analysis is processing; it cannot move to queued")
    complete_by_patch = pipeline.send("PATCH", f"{base}/status", {"status": "completed"})
    assert complete_by_patch.status_code == 422
    assert "finalize" in complete_by_patch.json()["detail"]
    failed = pipeline.ok("POST", f"{base}/finalize", {"status": "failed", "error": "GPU fell over"})
    assert (failed["status"], failed["error"]) == ("failed", "GPU fell over")
    reopen = pipeline.send("PATCH", f"{base}/status", {"status": "processing"})
    assert reopen.status_code == 409
    assert reopen.json()["detail"].startswith("analysis is failed; it cannot move to processing")
    late = pipeline.send(
        "POST", f"{base}/artifacts/presign", {"artifact_type": "heatmap", "filename": "h.png"}
    )
    assert late.status_code == 409
    assert late.json()["detail"] == "analysis is already failed; cannot add artifacts"


def test_finalize_checks_artifacts(stack: Stack, pipeline: Pipeline, image_id: str) -> None:
    analysis_id = pipeline.processing(image_id)
    base = f"/api/analyses/{analysis_id}"
    presigned = pipeline.ok(
        "POST", f"{base}/artifacts/presign", {"artifact_type": "heatmap", "filename": "heat.png"}
    )
    missing = pipeline.send("POST", f"{base}/finalize", {"status": "completed"})
    assert missing.status_code == 422
    assert missing.json()["detail"] == (
        f"artifact 'heat.png' was presigned but never uploaded to {presigned['storage_path']}"
    )
    assert put_bytes(stack, presigned["upload_url"], b"this is no PNG").status_code == 200
    wrong = pipeline.send("POST", f"{base}/finalize", {"status": "completed"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == (
        "artifact 'heat.png' should be image/png but its content is text/plain"
    )
    if stack.name == "distributed":  # S3 takes any size; finalising catches it
        assert (
            put_bytes(stack, presigned["upload_url"], b"\x89PNG" + b"\0" * MAX_ARTIFACT).status_code
            == 200
        )
        big = pipeline.send("POST", f"{base}/finalize", {"status": "completed"})
        assert big.status_code == 422
        assert big.json()["detail"] == (
            f"artifact 'heat.png' is {MAX_ARTIFACT + 4} bytes, over the limit of {MAX_ARTIFACT} bytes"
        )
    # Still processing after the refusals: the pipeline may fix things and finalise again.
    # A retried presign of the same name gives a fresh URL to the same path.
    again = pipeline.ok(
        "POST", f"{base}/artifacts/presign", {"artifact_type": "heatmap", "filename": "heat.png"}
    )
    assert again["storage_path"] == presigned["storage_path"]
    assert put_bytes(stack, again["upload_url"], png_bytes(4, 4)).status_code == 200
    done = pipeline.ok("POST", f"{base}/finalize", {"status": "completed"})
    assert done["status"] == "completed"


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("../escape.png", "may hold only letters, digits"),
        ("a/b.png", "may hold only letters, digits"),
        ("heatmap.exe", "artifact filename must end in one of: .png"),
        ("x" * 130 + ".png", "longer than 128 characters"),
    ],
)
def test_bad_artifact_filenames(
    pipeline: Pipeline, image_id: str, filename: str, message: str
) -> None:
    analysis_id = pipeline.processing(image_id)
    answer = pipeline.send(
        "POST",
        f"/api/analyses/{analysis_id}/artifacts/presign",
        {"artifact_type": "heatmap", "filename": filename},
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]


def test_local_upload_links(stack: Stack, pipeline: Pipeline, image_id: str) -> None:
    if stack.name != "embedded":
        pytest.skip("labelbay serves its own upload links only for a local folder")
    analysis_id = pipeline.processing(image_id)
    presigned = pipeline.ok(
        "POST",
        f"/api/analyses/{analysis_id}/artifacts/presign",
        {"artifact_type": "report", "filename": "report.json"},
    )
    url: str = presigned["upload_url"]
    too_big = put_bytes(stack, url, b"{" + b" " * MAX_ARTIFACT + b"}")
    assert too_big.status_code == 413
    assert too_big.json()["detail"] == f"artifact is over the limit of {MAX_ARTIFACT} bytes"
    forged = put_bytes(stack, url[:-3] + ("abc" if not url.endswith("abc") else "xyz"), b"{}")
    assert forged.status_code == 403
    assert forged.json()["detail"] == "this link is not valid"
    # An upload link does not download.
    assert stack.client.get(url).status_code == 403


def test_feature_off_hides_every_route(stack: Stack, owner: dict[str, str], image_id: str) -> None:
    stack.context.settings.ml_analysis_enabled = False
    some = "01900000-0000-7000-8000-000000000000"
    for method, path in [
        ("POST", f"/api/images/{image_id}/analyses"),
        ("GET", f"/api/images/{image_id}/analyses"),
        ("PATCH", f"/api/analyses/{some}/status"),
        ("POST", f"/api/analyses/{some}/artifacts/presign"),
        ("POST", f"/api/analyses/{some}/annotations:bulk"),
        ("POST", f"/api/analyses/{some}/finalize"),
        ("GET", f"/api/analyses/{some}"),
        ("GET", f"/api/analyses/{some}/export"),
        ("PUT", "/api/analysis-files/token"),
    ]:
        answer = stack.client.request(method, path, json={}, headers=owner)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json() == {"detail": "Not Found"}


# README's example, its digest computed by openssl (see README), not by Python's hmac.
README_SIGNED_BYTES = '1767225600.PATCH./api/analyses/42/status.{"status":"processing"}'
README_DIGEST = "74b53984f94e7d9d64b9daba18e73ac9ec2b9ca5aa6e019d1255bdec55d8d7ac"


def test_signature_matches_the_documented_example() -> None:
    """The README's example: the bytes signed for a PATCH, and the digest they give."""
    from labelbay.analyses.signing import sign

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert README_SIGNED_BYTES in readme
    assert README_DIGEST in readme
    body = b'{"status":"processing"}'
    path = "/api/analyses/42/status"
    got = sign("example-secret", timestamp=1767225600, method="PATCH", path=path, body=body)
    assert got == README_DIGEST
