"""Where task batches run: a thread pool in this process, Celery workers through a broker, or at
once in the caller's thread.

All call the same `process_batch`; they differ only in transport and in who retries. Callers hand
task ids over through `jobs.start`, which commits first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from kombu.exceptions import KombuError

from labelbay.jobs.tasks import fail_tasks, is_outage, process_batch
from labelbay.runtime import Runtime

log = logging.getLogger(__name__)


class PublishError(Exception):
    """The batch could not be handed over (the broker is down); its tasks stay in the outbox."""


class Executor(Protocol):
    def submit(self, task_ids: Sequence[int]) -> None:
        """Hand a batch over; raises `PublishError` when it could not be (nothing was sent)."""
        ...

    def close(self) -> None: ...


def batches(task_ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(task_ids[i : i + size]) for i in range(0, len(task_ids), size)]


class InProcessExecutor:
    """A thread pool inside the API process (the embedded default). ONNX Runtime and the image
    decoders release the GIL, so threads overlap decode, inference and storage I/O."""

    def __init__(self, deps: Runtime, *, workers: int) -> None:
        self._deps = deps
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labelbay-task")
        self._closed = threading.Event()

    def submit(self, task_ids: Sequence[int]) -> None:
        self._pool.submit(self._run, list(task_ids))

    def _run(self, task_ids: list[int]) -> None:
        """Like the Celery task: failures count as tries, the database being away does not."""
        settings = self._deps.settings
        attempt, outages = 1, 0
        while not self._closed.is_set():  # else left in SQL; re-queued at the next start
            try:
                process_batch(self._deps, task_ids)
                return
            except Exception as exc:
                if is_outage(exc):
                    outages += 1
                    log.warning("database unreachable for batch %s: %s", task_ids[:3], exc)
                    backoff = settings.task_retry_backoff_s * 2 ** min(outages, 16)
                    self._closed.wait(min(settings.task_outage_backoff_max_s, backoff))
                    continue
                log.exception("batch %s failed (attempt %d)", task_ids[:3], attempt)
                if attempt == settings.task_max_attempts:
                    try:
                        fail_tasks(self._deps, task_ids, f"{type(exc).__name__}: {exc}")
                    except Exception:  # their leases run out; the sweeper re-queues them
                        log.exception("could not record the failure of batch %s", task_ids[:3])
                    return
                self._closed.wait(settings.task_retry_backoff_s * 2 ** (attempt - 1))
                attempt += 1

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


# A request that publishes waits at most about a second for a broker that refuses connections
# (a hung one: its connect timeout); the dispatcher sends the rest when it is back.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


class CeleryExecutor:
    """Sends each batch as a Celery task message carrying only task ids."""

    def __init__(self, deps: Runtime) -> None:
        from labelbay.jobs.celery_app import make_celery

        self._app = make_celery(deps.settings)
        self._queue = deps.settings.job_queue

    def submit(self, task_ids: Sequence[int]) -> None:
        try:
            self._app.send_task(
                "labelbay.process_batch",
                args=[list(task_ids)],
                queue=self._queue,
                retry=True,
                retry_policy=_PUBLISH_RETRY,
            )
        except (KombuError, OSError) as exc:
            raise PublishError(f"could not publish to the broker: {exc}") from exc

    def close(self) -> None:
        self._app.close()


class InlineExecutor:
    """Runs each batch at once in the caller's thread, for callers that wait for the results (the
    old services' contracts, the CLI without workers); a failing batch raises to the caller."""

    def __init__(self, deps: Runtime) -> None:
        self._deps = deps

    def submit(self, task_ids: Sequence[int]) -> None:
        process_batch(self._deps, task_ids)

    def close(self) -> None:
        pass


def make_executor(deps: Runtime) -> Executor:
    if deps.settings.executor == "celery":
        return CeleryExecutor(deps)
    return InProcessExecutor(deps, workers=deps.settings.inprocess_workers)
