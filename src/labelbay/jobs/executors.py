"""Where task batches run: a thread pool in this process, Celery workers through a broker, or at
once in the caller's thread.

All call the same `process_batch` (a batch of a model job's tasks) and `process_evaluation` (an
evaluation run); they differ only in transport and in who retries. Callers hand ids over through
`jobs.start`, which commits first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from labelbay.jobs.evaluate import fail_evaluation, process_evaluation
from labelbay.jobs.tasks import fail_tasks, process_batch
from labelbay.runtime import Runtime

log = logging.getLogger(__name__)


class Executor(Protocol):
    def submit(self, task_ids: Sequence[int]) -> None: ...

    def submit_evaluation(self, evaluation_id: int) -> None: ...

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
        ids = list(task_ids)
        self._pool.submit(self._run, f"batch {ids[:3]}", process_batch, fail_tasks, ids)

    def submit_evaluation(self, evaluation_id: int) -> None:
        what = f"evaluation {evaluation_id}"
        self._pool.submit(self._run, what, process_evaluation, fail_evaluation, evaluation_id)

    def _run(
        self,
        what: str,
        work: Callable[[Runtime, Any], object],
        give_up: Callable[[Runtime, Any, str], None],
        ids: Any,
    ) -> None:
        settings = self._deps.settings
        for attempt in range(1, settings.task_max_attempts + 1):
            if self._closed.is_set():
                return  # left queued/running in SQL; re-queued at the next start
            try:
                work(self._deps, ids)
                return
            except Exception as exc:
                log.exception("%s failed (attempt %d)", what, attempt)
                if attempt == settings.task_max_attempts:
                    give_up(self._deps, ids, f"{type(exc).__name__}: {exc}")
                    return
                time.sleep(settings.task_retry_backoff_s * 2 ** (attempt - 1))

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


class CeleryExecutor:
    """Sends each batch as a Celery task message carrying only task ids."""

    def __init__(self, deps: Runtime) -> None:
        from labelbay.jobs.celery_app import make_celery

        self._app = make_celery(deps.settings)
        self._queue = deps.settings.job_queue

    def submit(self, task_ids: Sequence[int]) -> None:
        self._app.send_task("labelbay.process_batch", args=[list(task_ids)], queue=self._queue)

    def submit_evaluation(self, evaluation_id: int) -> None:
        self._app.send_task("labelbay.evaluate", args=[evaluation_id], queue=self._queue)

    def close(self) -> None:
        self._app.close()


class InlineExecutor:
    """Runs each batch at once in the caller's thread, for callers that wait for the results (the
    old services' contracts, the CLI without workers); a failing batch raises to the caller."""

    def __init__(self, deps: Runtime) -> None:
        self._deps = deps

    def submit(self, task_ids: Sequence[int]) -> None:
        process_batch(self._deps, task_ids)

    def submit_evaluation(self, evaluation_id: int) -> None:
        process_evaluation(self._deps, evaluation_id)

    def close(self) -> None:
        pass


def make_executor(deps: Runtime) -> Executor:
    if deps.settings.executor == "celery":
        return CeleryExecutor(deps)
    return InProcessExecutor(deps, workers=deps.settings.inprocess_workers)


def submit_all(executor: Executor, task_ids: Sequence[int], *, batch_size: int) -> None:
    for batch in batches(task_ids, batch_size):
        executor.submit(batch)
