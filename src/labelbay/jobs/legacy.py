"""The old Object Detection Worker's contract, kept exactly: a JSON message
`{"task_id", "image_key", "callback_url"}` on a queue; the image at `image_key` (input location)
is labelled and `results/{task_id}.json` = `{"task_id", "detections", "processed_at",
"processing_time_ms"}` is written to the output location, then the callback gets the same JSON.

Redelivery-safe: a task whose result exists is not run again, and a callback is marked as
delivered (`results/{task_id}.delivered`) so it is sent once.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from labelbay.inference.pipeline import label_stream
from labelbay.jobs import callbacks
from labelbay.labels import worker_json
from labelbay.runtime import Runtime
from labelbay.storage import ObjectNotFound

log = logging.getLogger(__name__)

_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class BadTaskMessage(ValueError):
    """A message that can never succeed; it is rejected, not retried."""


def parse_message(body: Any) -> tuple[str, str, str | None]:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise BadTaskMessage("message is not JSON") from exc
    if not isinstance(body, dict):
        raise BadTaskMessage("message must be a JSON object")
    task_id, image_key, callback_url = (
        body.get("task_id"),
        body.get("image_key"),
        body.get("callback_url"),
    )
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
        raise BadTaskMessage("task_id must be a string of letters, digits, '.', '_' or '-'")
    if not isinstance(image_key, str) or not image_key:
        raise BadTaskMessage("image_key must be a non-empty string")
    if callback_url is not None and not isinstance(callback_url, str):
        raise BadTaskMessage("callback_url must be a string")
    return task_id, image_key, callback_url or None


def result_key(task_id: str) -> str:
    return f"results/{task_id}.json"


def process_task(runtime: Runtime, body: Any) -> dict[str, Any]:
    """Run one task message; returns the result JSON. `BadTaskMessage` for hopeless input."""
    task_id, image_key, callback_url = parse_message(body)
    output = runtime.storage.output
    try:
        result: dict[str, Any] = json.loads(output.get(result_key(task_id)))
    except ObjectNotFound:
        result = _label(runtime, task_id, image_key)
        output.put(
            result_key(task_id), json.dumps(result).encode(), content_type="application/json"
        )
    if callback_url and not output.exists(f"results/{task_id}.delivered"):
        _call_back(runtime, callback_url, result)
    return result


def _label(runtime: Runtime, task_id: str, image_key: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        data = runtime.storage.input.get(image_key)
    except ObjectNotFound as exc:
        raise BadTaskMessage(f"no image at {image_key!r}") from exc
    except ValueError as exc:  # an invalid key
        raise BadTaskMessage(str(exc)) from exc
    model = runtime.models.get(runtime.settings.legacy_task_model)
    result = next(label_stream(model, [(task_id, data)]))
    if result.detections is None:
        raise BadTaskMessage(f"{image_key}: {result.error}")
    found = result.detections.to_labels(
        width=result.width, height=result.height, classify=model.spec.task == "classify"
    )
    return {
        "task_id": task_id,
        "detections": [worker_json(x, width=result.width, height=result.height) for x in found],
        "processed_at": datetime.now(UTC).isoformat(),
        "processing_time_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _call_back(runtime: Runtime, url: str, result: dict[str, Any]) -> None:
    settings = runtime.settings
    secret = settings.legacy_callback_secret
    outcome = callbacks.deliver(
        url,
        result,
        secret=secret.get_secret_value() if secret else "",
        allowlist=settings.callback_allowlist,
        timeout_s=settings.callback_timeout_s,
        max_attempts=settings.callback_max_attempts,
        backoff_s=settings.callback_backoff_s,
    )
    task_id = result["task_id"]
    if outcome.delivered:
        runtime.storage.output.put(f"results/{task_id}.delivered", b"")
    else:
        log.warning("task %s: callback to %s failed: %s", task_id, url, outcome.error)


def consume(runtime: Runtime, *, queue_name: str | None = None, limit: int | None = None) -> int:
    """Consume task messages from the broker until stopped (or `limit` messages); returns the count.

    Acknowledged only after the result is stored (a killed worker's message is redelivered);
    hopeless messages are rejected without requeue, other failures requeued.
    """
    from kombu.connection import Connection
    from kombu.entity import Queue
    from kombu.message import Message

    settings = runtime.settings
    queue = Queue(queue_name or settings.legacy_task_queue, durable=True)
    handled = 0

    def on_message(body: Any, message: Message) -> None:
        nonlocal handled
        try:
            process_task(runtime, body)
            message.ack()
        except BadTaskMessage as exc:
            log.error("rejecting task message: %s", exc)
            message.reject(requeue=False)
        except Exception:
            log.exception("task failed; requeueing it")
            message.requeue()
            time.sleep(settings.task_retry_backoff_s)
        handled += 1

    with (
        Connection(settings.broker_url) as conn,
        conn.Consumer(queue, callbacks=[on_message], accept=["json"], prefetch_count=1),
    ):
        while limit is None or handled < limit:
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                continue
    return handled
