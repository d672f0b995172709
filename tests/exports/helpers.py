"""A small labelled project for export tests: images, a model version, predictions, annotations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from labelbay import labels
from labelbay.db.models import ModelVersion, Prediction
from labelbay.db.session import transaction
from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.support.stack import Stack


@dataclass
class Labelled:
    headers: dict[str, str]
    project_id: int
    image_ids: list[uuid.UUID]
    model: str = "det"


def box(x1: float, y1: float, x2: float, y2: float) -> dict[str, float]:
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}


def detection(label: str, score: float, b: dict[str, float], class_id: int = 0) -> dict[str, Any]:
    """A model's box as `predictions.detections` stores it (the label model's JSON form)."""
    return labels.make("box", label, b, score=score, class_id=class_id).to_json()


def labelled_project(
    stack: Stack,
    *,
    sizes: list[tuple[int, int]],
    labels: list[str],
    predictions: dict[int, list[dict[str, Any]]],
    annotations: dict[int, list[dict[str, Any]]],
    names: list[str] | None = None,
) -> Labelled:
    """Images of the given sizes (uploaded through the API), one model version "det" with the
    given detections per image index, and annotations per image index (through the API)."""
    headers = stack.user(f"owner-{uuid.uuid4().hex[:8]}@example.com")
    project = stack.project(headers, labels=labels)
    parts = [
        image_part(jpeg_bytes(w, h, seed=i), (names or [])[i] if names else f"img{i}.jpg")
        for i, (w, h) in enumerate(sizes)
    ]
    stored = upload_ok(stack, project["id"], headers, *parts)
    ids = [uuid.UUID(image["id"]) for image in stored]
    with transaction(stack.context.sessions) as session:
        version = ModelVersion(
            name="det", version="1", task="detect", format="builtin", class_names=labels
        )
        version.is_active = True
        session.add(version)
        session.flush()
        for index, detections in predictions.items():
            session.add(
                Prediction(
                    image_id=ids[index],
                    model_version_id=version.id,
                    detections=detections,
                    num_detections=len(detections),
                )
            )
    for index, items in annotations.items():
        for item in items:
            answer = stack.client.post(
                f"/api/v1/images/{ids[index]}/annotations", json=item, headers=headers
            )
            assert answer.status_code == 201, answer.text
    return Labelled(headers=headers, project_id=project["id"], image_ids=ids)


def export(stack: Stack, labelled: Labelled, **params: Any) -> Any:
    answer = stack.client.get(
        f"/api/v1/projects/{labelled.project_id}/export",
        params={"model": labelled.model, **params},
        headers=labelled.headers,
    )
    assert answer.status_code == 200, answer.text
    return answer
