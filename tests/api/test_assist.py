"""`POST /api/v1/images/{id}/assist` on both stacks: coins() uploaded as a PNG, a mask for every
coin's box through the API; bad input and broken files get 4xx; a SAM model (ONNX graphs built in
the test) embeds images in a job, caches the embeddings in object storage, and a click then runs
only its decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from labelbay.db.session import transaction
from labelbay.inference.sam_onnx import SamOnnxModel
from labelbay.runtime import Runtime
from labelbay.services.assist import embedding_key
from labelbay.services.models import register_model
from tests.api.factories import image_part, upload_ok
from tests.inference.builtin import samples
from tests.inference.test_assist import coins, iou
from tests.jobs.helpers import wait_for_job
from tests.support import sam_graphs
from tests.support.stack import Stack

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    """One model process: the SAM test reads its model's encoder count there."""
    return {"inprocess_workers": 1}


def encoder_runs(runtime: Runtime, model_version_id: int) -> int:
    """How often the model process's SAM model ran its encoder (called in that process)."""
    model = runtime.models.get_by_id(model_version_id)
    assert isinstance(model, SamOnnxModel)
    return model.encoder_runs


def uploaded(stack: Stack, data: bytes, name: str) -> tuple[dict[str, str], int, str]:
    admin = stack.user("admin@example.com", admin=True)
    project = stack.project(admin)
    [image] = upload_ok(stack, project["id"], admin, image_part(data, name))
    return admin, project["id"], image["id"]


def assist(stack: Stack, headers: dict[str, str], image_id: str, body: dict[str, Any]) -> Any:
    return stack.client.post(f"/api/v1/images/{image_id}/assist", json=body, headers=headers)


def decoded(answer: dict[str, Any]) -> Any:
    return coco_mask.decode(answer["mask"]).astype(bool)


def test_a_mask_for_every_coins_box(stack: Stack) -> None:
    admin, _, image_id = uploaded(stack, samples.encode(samples.coins(), ".png"), "coins.png")
    good = 0
    for coin in coins():
        answer = assist(stack, admin, image_id, {"tool": "box", "box": list(coin.box)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        mask = decoded(body)
        assert body["mask"]["size"] == [303, 384]
        assert body["area"] == int(mask.sum())
        if body["area"]:
            ys, xs = np.nonzero(mask)
            assert body["box"] == [
                xs.min(),
                ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1,
            ]
            assert len(body["polygon"]) >= 3
        good += iou(mask, coin.disk) >= 0.9
    assert good >= 20


def test_clicks_and_wand_answer_in_full_size_pixels(stack: Stack) -> None:
    big = samples.to_1080p(samples.coins())
    admin, _, image_id = uploaded(stack, samples.encode(big.image, ".jpg"), "coins.jpg")
    coin = coins()[7]
    x, y = coin.centre
    point = [x * big.scale + big.offset[0], y * big.scale + big.offset[1]]
    for body in (
        {"tool": "clicks", "points": [point], "labels": [1]},
        {"tool": "wand", "point": [10, 10], "tolerance": 4},
    ):
        answer = assist(stack, admin, image_id, body)
        assert answer.status_code == 200, answer.text
        mask = decoded(answer.json())
        assert mask.shape == (1080, 1920)
        if body["tool"] == "clicks":
            assert mask[round(point[1]), round(point[0])]
            assert 0.8 < mask.sum() / (coin.disk.sum() * big.scale**2) < 1.2
        else:  # the grey canvas around the coins, not the coins
            assert mask[0, 0]
            assert not mask[round(point[1]), round(point[0])]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"tool": "box", "box": [-1, 0, 10, 10]},
            "box corner (-1, 0) is outside the 384x303 image",
        ),
        ({"tool": "box", "box": [10, 10, 0, 5]}, "box must be at least 1 pixel wide and high"),
        ({"tool": "clicks", "points": [[5, 5]], "labels": [0]}, "at least one positive click"),
        ({"tool": "clicks", "points": [[5, 5]], "labels": [1, 1]}, "same length"),
        ({"tool": "clicks", "points": [[384, 5]], "labels": [1]}, "click (384, 5) is outside"),
        ({"tool": "wand", "point": [5, 303]}, "wand point (5, 303) is outside"),
    ],
)
def test_input_that_does_not_fit_is_a_422(stack: Stack, body: dict[str, Any], detail: str) -> None:
    admin, _, image_id = uploaded(stack, samples.encode(samples.coins(), ".png"), "coins.png")
    answer = assist(stack, admin, image_id, body)
    assert answer.status_code == 422, answer.text
    assert detail in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"tool": "lasso", "points": [[1, 1]]},
        {"tool": "box", "box": [1, 2, 3]},
        {"tool": "wand", "point": [1, 1], "tolerance": 300},
        {"tool": "clicks", "points": [], "labels": []},
        {"tool": "clicks", "points": [[1, 1]], "labels": [2]},
        {"tool": "wand", "point": [1, 1], "extra": True},
        {"tool": "sam", "points": [[1, 1]], "labels": [1]},
    ],
)
def test_malformed_bodies_are_a_422(stack: Stack, body: dict[str, Any]) -> None:
    admin, _, image_id = uploaded(stack, samples.encode(samples.coins(), ".png"), "coins.png")
    assert assist(stack, admin, image_id, body).status_code == 422


def test_a_stored_file_that_no_longer_decodes_is_a_422_and_a_missing_one_a_404(
    stack: Stack,
) -> None:
    admin, _, image_id = uploaded(stack, samples.encode(samples.coins(), ".png"), "coins.png")
    row = stack.client.get(f"/api/v1/images/{image_id}", headers=admin).json()
    key = row["storage_key"]
    stack.context.storage.input.put(key, b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    answer = assist(stack, admin, image_id, {"tool": "wand", "point": [5, 5]})
    assert answer.status_code == 422
    assert "cannot be decoded" in answer.json()["detail"]
    stack.context.storage.input.delete(key)
    answer = assist(stack, admin, image_id, {"tool": "wand", "point": [5, 5]})
    assert answer.status_code == 404
    assert answer.json()["detail"] == "the image's file is missing"


def register_sam(stack: Stack, folder: Path) -> int:
    artifact = sam_graphs.write_zip(folder / "sam.zip")
    with transaction(stack.context.sessions) as session:
        row = register_model(
            session,
            store=stack.context.storage.models,
            name="sam",
            format="onnx-sam",
            file=artifact,
        )
        assert row.task == "segment"
        return row.id


def test_sam_job_caches_embeddings_and_a_click_runs_only_the_decoder(
    stack: Stack, tmp_path: Path
) -> None:
    grey, size = 200, (512, 384)
    image = np.full((size[1], size[0], 3), grey, np.uint8)
    admin, project_id, first = uploaded(stack, samples.encode(image, ".png"), "a.png")
    [second] = upload_ok(
        stack, project_id, admin, image_part(samples.encode(image, ".png"), "b.png")
    )
    version_id = register_sam(stack, tmp_path)
    listed = stack.client.get("/api/v1/models", headers=admin).json()
    # The web app shows its SAM click tool for this row and names the version by its id.
    assert {"id": version_id, "task": "segment", "format": "onnx-sam"}.items() <= next(
        row for row in listed if row["name"] == "sam"
    ).items()
    started = stack.client.post(
        f"/api/v1/projects/{project_id}/jobs", json={"model": "sam"}, headers=admin
    )
    assert started.status_code == 201, started.text
    job = wait_for_job(stack, admin, started.json()["id"])
    assert (job["status"], job["done"], job["failed"]) == ("completed", 2, 0)
    output = stack.context.storage.output
    for image_id in (first, second["id"]):
        assert output.exists(embedding_key(version_id, image_id))

    def runs_now() -> int:  # the model process's count (the job and the clicks ran there)
        count: int = stack.context.processes.call(encoder_runs, version_id).result()
        return count

    runs = runs_now()
    assert runs == 2  # the job embedded both images
    for click in ([100, 150], [400, 300]):
        body = {"tool": "sam", "model_version_id": version_id, "points": [click], "labels": [1]}
        answer = assist(stack, admin, first, body)
        assert answer.status_code == 200, answer.text
        expected = sam_graphs.expected_mask(grey, size, (click[0], click[1]))
        assert np.array_equal(decoded(answer.json()), expected)
    assert runs_now() == runs, "the cached embedding was used; the encoder did not run"

    # An image the job did not see: its first click embeds it once and stores it.
    [third] = upload_ok(
        stack, project_id, admin, image_part(samples.encode(image, ".png"), "c.png")
    )
    body = {"tool": "sam", "model_version_id": version_id, "points": [[10, 10]], "labels": [1]}
    for _ in range(2):
        assert assist(stack, admin, third["id"], body).status_code == 200
    assert runs_now() == runs + 1
    assert output.exists(embedding_key(version_id, third["id"]))


def test_sam_with_a_model_that_is_not_sam_is_a_422(stack: Stack, tmp_path: Path) -> None:
    admin, _, image_id = uploaded(stack, samples.encode(samples.coins(), ".png"), "coins.png")
    body = {"tool": "sam", "model_version_id": 987654, "points": [[1, 1]], "labels": [1]}
    answer = assist(stack, admin, image_id, body)
    assert answer.status_code == 422
    assert "model version 987654" in answer.json()["detail"]
