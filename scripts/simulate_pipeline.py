#!/usr/bin/env python3
"""Play an external ML pipeline against a running labelbay: the whole analyses flow, HMAC-signed.

    export ML_CALLBACK_HMAC_SECRET='the same secret as the server'
    python scripts/simulate_pipeline.py --image-id <image uuid> [--base-url http://127.0.0.1:8000]

Steps: create an analysis (queued), move it to processing, presign a heatmap artifact, PUT a PNG to
the presigned URL, post one annotation of every type, and finalise it as completed. Prints each
answer; exits 0 when the analysis ends `completed`, 1 otherwise. Needs only httpx and Pillow.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import os
import sys
import time
from typing import Any

import httpx
from PIL import Image


def signed_headers(secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """`X-ML-Signature`: lowercase hex HMAC-SHA256 of `f"{ts}.{METHOD}.{path}."` + raw body."""
    timestamp = str(int(time.time()))
    message = f"{timestamp}.{method}.{path}.".encode() + body
    signature = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-ML-Signature": signature,
        "X-ML-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def call(client: httpx.Client, secret: str, method: str, path: str, body: Any) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    answer = client.request(
        method, path, content=raw, headers=signed_headers(secret, method, path, raw)
    )
    print(f"{method} {path} -> {answer.status_code}")
    if answer.status_code >= 400:
        raise SystemExit(f"failed: {answer.text}")
    result: dict[str, Any] = answer.json()
    return result


def heatmap_png(width: int, height: int) -> bytes:
    image = Image.linear_gradient("L").resize((width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run(base_url: str, secret: str, image_id: str, model: str, version: str) -> str:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        analysis = call(
            client,
            secret,
            "POST",
            f"/api/images/{image_id}/analyses",
            {
                "image_id": image_id,
                "model_name": model,
                "model_version": version,
                "parameters": {"threshold": 0.5, "simulated": True},
            },
        )
        analysis_id = analysis["id"]
        width, height = analysis["image_width"], analysis["image_height"]
        call(
            client, secret, "PATCH", f"/api/analyses/{analysis_id}/status", {"status": "processing"}
        )
        presigned = call(
            client,
            secret,
            "POST",
            f"/api/analyses/{analysis_id}/artifacts/presign",
            {"artifact_type": "heatmap", "filename": "heatmap.png"},
        )
        upload = httpx.put(
            presigned["upload_url"],
            content=heatmap_png(64, 64),
            headers={"Content-Type": "image/png"},
        )
        print(f"PUT <presigned upload URL> -> {upload.status_code}")
        upload.raise_for_status()
        w, h = width - 1, height - 1
        annotations = [
            {
                "annotation_type": "bounding_box",
                "class_name": "object",
                "confidence": 0.93,
                "data": {"x_min": w * 0.1, "y_min": h * 0.1, "x_max": w * 0.6, "y_max": h * 0.7},
            },
            {
                "annotation_type": "heatmap",
                "data": {"width": 64, "height": 64},
                "storage_path": presigned["storage_path"],
            },
            {
                "annotation_type": "polygon",
                "class_name": "region",
                "confidence": 0.71,
                "data": {"points": [[0, 0], [w * 0.5, 0], [w * 0.5, h * 0.5]]},
            },
            {
                "annotation_type": "circle",
                "class_name": "spot",
                "confidence": 0.5,
                "data": {"x": w / 2, "y": h / 2, "radius": max(1.0, min(w, h) / 4)},
            },
            {"annotation_type": "classification", "class_name": "scene", "confidence": 0.88},
            {
                "annotation_type": "keypoints",
                "class_name": "pose",
                "confidence": 0.66,
                "data": {"points": [{"x": w * 0.25, "y": h * 0.25, "name": "nose"}]},
            },
        ]
        bulk = call(
            client,
            secret,
            "POST",
            f"/api/analyses/{analysis_id}/annotations:bulk",
            {"annotations": annotations},
        )
        print(f"  {bulk['created']} annotations stored")
        final = call(
            client, secret, "POST", f"/api/analyses/{analysis_id}/finalize", {"status": "completed"}
        )
        print(f"analysis {analysis_id}: {final['status']}")
        return str(final["status"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-id", required=True, help="the image to analyse (its UUID)")
    parser.add_argument(
        "--base-url", default=os.environ.get("LABELBAY_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--model", default="yolo_v8", help="must be in ML_ALLOWED_MODELS")
    parser.add_argument("--model-version", default="1.0.0")
    args = parser.parse_args(argv)
    secret = os.environ.get("ML_CALLBACK_HMAC_SECRET") or os.environ.get(
        "LABELBAY_ML_CALLBACK_HMAC_SECRET"
    )
    if not secret:
        parser.error("set ML_CALLBACK_HMAC_SECRET to the server's secret")
    status = run(args.base_url, secret, args.image_id, args.model, args.model_version)
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
