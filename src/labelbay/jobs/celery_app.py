"""The Celery side: app configuration and the thin task wrappers around `process_batch` and
`process_evaluation`.

Settings chosen for inference work: late acks and reject-on-worker-lost (a worker killed mid-task
leaves its message to be redelivered, never lost), prefetch of one (a slow batch doesn't hold
others hostage), JSON messages, no result backend (SQL is the truth).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init

from labelbay.config import Settings, get_settings

log = logging.getLogger(__name__)


def make_celery(settings: Settings) -> Celery:
    app = Celery("labelbay", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.job_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Redis (and SQS) re-deliver unacked messages only after this; longer than any batch.
        broker_transport_options={"visibility_timeout": 3600},
    )
    app.task(name="labelbay.process_batch", bind=True, acks_late=True)(_process_batch_task)
    app.task(name="labelbay.evaluate", bind=True, acks_late=True)(_evaluate_task)
    return app


@lru_cache(maxsize=1)
def worker_deps() -> Any:
    """Built once per worker process: database, storage and the model cache."""
    from labelbay.runtime import build_runtime

    runtime = build_runtime(get_settings())
    try:
        runtime.models.prefetch_active()
    except Exception:  # a missing artifact must not stop the worker; the task that needs it fails
        log.exception("could not prefetch model artifacts")
    return runtime


def _process_batch_task(self: Task[Any, Any], task_ids: list[int]) -> object:
    from labelbay.jobs.tasks import fail_tasks, process_batch

    return _with_retries(self, f"batch {task_ids[:3]}", process_batch, fail_tasks, task_ids)


def _evaluate_task(self: Task[Any, Any], evaluation_id: int) -> object:
    from labelbay.jobs.evaluate import fail_evaluation, process_evaluation

    what = f"evaluation {evaluation_id}"
    return _with_retries(self, what, process_evaluation, fail_evaluation, evaluation_id)


def _with_retries(
    task: Task[Any, Any],
    what: str,
    work: Callable[[Any, Any], object],
    give_up: Callable[[Any, Any, str], None],
    ids: Any,
) -> object:
    """Run `work`; on failure retry with backoff, and after the last attempt record why."""
    deps = worker_deps()
    settings = deps.settings
    try:
        return work(deps, ids)
    except Exception as exc:
        retries = task.request.retries
        if retries + 1 >= settings.task_max_attempts:
            log.exception("%s failed for good after %d attempts", what, retries + 1)
            give_up(deps, ids, f"{type(exc).__name__}: {exc}")
            return None
        raise task.retry(exc=exc, countdown=settings.task_retry_backoff_s * 2**retries) from exc


def _warm_up(**_: Any) -> None:
    """Each worker process opens the database and storage and fetches model files at start."""
    worker_deps()


worker_process_init.connect(_warm_up, weak=False)


celery_app = make_celery(get_settings())
