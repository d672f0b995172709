"""Each old service's contract, with its exact JSON shape."""

from __future__ import annotations

import io
import uuid

from PIL import Image
from sqlalchemy import select

from labelbay.db.models import Image as ImageRow
from labelbay.db.models import Prediction
from tests.api.factories import jpeg_bytes
from tests.support.stack import Stack


def _flat_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 16), (128, 128, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def _keys(stack: Stack, location: str) -> set[str]:
    return {info.key for info in getattr(stack.context.storage, location).list("")}


def test_batch_labeling_upload(stack: Stack, legacy: dict[str, str]) -> None:
    files = [
        ("files", ("fish.jpg", jpeg_bytes(32, 24), "image/jpeg")),
        ("files", ("empty.png", _flat_png(), "image/png")),
    ]
    answer = stack.client.post("/upload", files=files, headers=legacy)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "results": [
            {"filename": "fish.jpg", "coco_bboxes": [[2.0, 3.0, 10.0, 6.0]]},
            {"filename": "empty.png", "coco_bboxes": []},
        ]
    }
    with stack.context.sessions() as session:
        fish, empty = session.scalars(select(ImageRow).order_by(ImageRow.id)).all()
    assert _keys(stack, "input") == {fish.storage_key, empty.storage_key}
    assert _keys(stack, "output") == {fish.storage_key.rsplit(".", 1)[0] + ".jpg"}
    assert _keys(stack, "nolabel") == {empty.storage_key}


def test_batch_labeling_refuses_other_types_and_strangers(
    stack: Stack, legacy: dict[str, str]
) -> None:
    for name, data in (("a.webp", jpeg_bytes()), ("a.gif", jpeg_bytes()), ("a.jpg", b"text")):
        files = [("files", ("ok.jpg", jpeg_bytes(), "image/jpeg")), ("files", (name, data))]
        answer = stack.client.post("/upload", files=files, headers=legacy)
        assert answer.status_code == 400, answer.text
        assert name in answer.json()["detail"]
    assert _keys(stack, "input") == set()
    files = [("files", ("ok.jpg", jpeg_bytes(), "image/jpeg"))]
    assert stack.client.post("/upload", files=files).status_code == 401
    outsider = stack.user("outsider@example.com")
    assert stack.client.post("/upload", files=files, headers=outsider).status_code == 404


def test_classification_predict_and_history(stack: Stack, legacy: dict[str, str]) -> None:
    user_id = str(uuid.uuid4())
    answer = stack.client.post(
        "/api/v1/predict",
        files={"file": ("pet.jpg", jpeg_bytes(32, 24), "image/jpeg")},
        data={"user_id": user_id},
        headers=legacy,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "prediction_id",
        "image_id",
        "predicted_class",
        "confidence_score",
        "prediction_time_ms",
    }
    assert body["predicted_class"] == "cat"
    assert body["confidence_score"] == 0.87
    assert isinstance(body["prediction_time_ms"], int)
    with stack.context.sessions() as session:
        prediction = session.get(Prediction, body["prediction_id"])
        assert prediction is not None
        assert str(prediction.image_id) == body["image_id"]
        image = session.get(ImageRow, prediction.image_id)
        assert image is not None
        assert image.meta == {"legacy_user_id": user_id}

    history = stack.client.get(
        "/api/v1/predictions", params={"user_id": user_id, "page": 1, "limit": 5}, headers=legacy
    )
    assert history.status_code == 200, history.text
    page = history.json()
    assert set(page) == {"predictions", "total", "page", "limit"}
    assert (page["total"], page["page"], page["limit"]) == (1, 1, 5)
    (entry,) = page["predictions"]
    assert set(entry) == {
        "prediction_id",
        "image_id",
        "predicted_class",
        "confidence_score",
        "created_at",
    }
    assert entry["prediction_id"] == body["prediction_id"]
    other = stack.client.get(
        "/api/v1/predictions", params={"user_id": str(uuid.uuid4())}, headers=legacy
    ).json()
    assert other == {"predictions": [], "total": 0, "page": 1, "limit": 10}
    missing = stack.client.post(
        "/api/v1/predict", files={"file": ("pet.jpg", jpeg_bytes())}, headers=legacy
    )
    assert missing.status_code == 422


def test_circular_detection_upload(stack: Stack, legacy: dict[str, str]) -> None:
    answer = stack.client.post(
        "/images/", files={"file": ("coins.jpg", jpeg_bytes(32, 24), "image/jpeg")}, headers=legacy
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"image_id", "detections"}
    assert body["detections"] == [
        {
            "class_id": 0,
            "class_name": "circle",
            "confidence": 0.9,
            "bbox": {"x1": 4.0, "y1": 2.0, "x2": 10.0, "y2": 8.0},
            "circle": {"cx": 7.0, "cy": 5.0, "r": 3.0},
        }
    ]
    assert stack.client.get("/health").json()["status"] == "ok"
    assert "legacy_circles_model" in stack.client.get("/config").json()


def test_not_configured_answers_503(stack: Stack) -> None:
    headers = stack.user("someone@example.com")
    answer = stack.client.post(
        "/images/", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")}, headers=headers
    )
    assert answer.status_code == 503
