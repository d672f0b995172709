"""The old Object Detection Worker's message contract, over a real RabbitMQ queue."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from labelbay.jobs.callbacks import verify
from labelbay.jobs.legacy import BadTaskMessage, consume, process_task
from tests.jobs.helpers import body_json, callback_receiver, photo_jpegs, register_yolo
from tests.support.stack import Stack

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
SECRET = "legacy-callback-secret"


@pytest.fixture
def stack_urls(sqlite_url: str, tmp_path: Any) -> tuple[str, str, str]:
    return "embedded", sqlite_url, f"file://{tmp_path}/objects"


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = f"labelbay-test-legacy-{uuid.uuid4().hex[:8]}"
    yield name
    with Connection(BROKER) as conn:
        Queue(name, channel=conn.channel()).delete()


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {
        "callback_allowlist": ["127.0.0.1"],
        "callback_backoff_s": 0.01,
        "task_retry_backoff_s": 0.01,
        "legacy_task_model": "yolo",
        "legacy_callback_secret": SECRET,
        "broker_url": BROKER,
    }


def publish(queue_name: str, messages: list[Any]) -> None:
    with Connection(BROKER) as conn:
        queue = Queue(queue_name, Exchange(""), routing_key=queue_name, durable=True)
        producer = conn.Producer()
        for message in messages:
            producer.publish(message, routing_key=queue_name, declare=[queue], serializer="json")


def test_task_messages_write_results_and_call_back(stack: Stack, queue_name: str) -> None:
    register_yolo(stack)
    astronaut = photo_jpegs(2)[1]
    stack.context.storage.input.put("uploads/astronaut.jpg", astronaut)
    with callback_receiver() as receiver:
        publish(
            queue_name,
            [
                {
                    "task_id": "t-1",
                    "image_key": "uploads/astronaut.jpg",
                    "callback_url": receiver.url,
                },
                {"task_id": "t-2", "image_key": "missing.jpg", "callback_url": receiver.url},
                "not an object",
            ],
        )
        worker = threading.Thread(
            target=consume,
            args=(stack.context.runtime,),
            kwargs={"queue_name": queue_name, "limit": 3},
        )
        worker.start()
        worker.join(timeout=120)
        assert not worker.is_alive()
    result = json.loads(stack.context.storage.output.get("results/t-1.json"))
    assert set(result) == {"task_id", "detections", "processed_at", "processing_time_ms"}
    assert result["task_id"] == "t-1"
    assert result["detections"], "the astronaut has a face"
    first = result["detections"][0]
    assert set(first) >= {"class_id", "class_name", "confidence", "bbox"}
    assert set(first["bbox"]) == {"x1", "y1", "x2", "y2"}
    assert not stack.context.storage.output.exists("results/t-2.json")
    assert len(receiver.posts) == 1
    headers, body = receiver.posts[0]
    assert body_json(body) == result
    assert verify(body, SECRET, headers["X-Signature-256"])


def test_redelivered_task_is_not_redone(stack: Stack) -> None:
    register_yolo(stack)
    stack.context.storage.input.put("a.jpg", photo_jpegs(2)[1])
    with callback_receiver() as receiver:
        message = {"task_id": "again", "image_key": "a.jpg", "callback_url": receiver.url}
        first = process_task(stack.context.runtime, message)
        second = process_task(stack.context.runtime, message)
    assert first == second
    assert len(receiver.posts) == 1


TASK_ID_RULE = "task_id must be a string of letters, digits, '.', '_' or '-'"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"{", "message is not JSON"),
        ([1, 2], "message must be a JSON object"),
        ({"image_key": "a.jpg"}, TASK_ID_RULE),
        ({"task_id": "../x", "image_key": "a.jpg"}, TASK_ID_RULE),
        ({"task_id": "x"}, "image_key must be a non-empty string"),
        (
            {"task_id": "x", "image_key": "a.jpg", "callback_url": 3},
            "callback_url must be a string",
        ),
        (
            {"task_id": "x", "image_key": "../etc/passwd"},
            "invalid key '../etc/passwd': empty, '.' or '..' segment",
        ),
    ],
)
def test_bad_messages_are_refused(stack: Stack, message: Any, reason: str) -> None:
    with pytest.raises(BadTaskMessage) as refused:
        process_task(stack.context.runtime, message)
    assert str(refused.value) == reason
