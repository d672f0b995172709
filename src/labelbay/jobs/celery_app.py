"""The Celery side: app configuration and the thin task wrappers (batches, label imports,
evaluations) around the task code, with one retry policy.

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
        # Redis (and SQS) re-deliver unacked messages only after this; longer than any batch. On
        # AMQP a publish returns once the broker has the message (publisher confirms), so a
        # task is marked published only when its message cannot be lost.
        broker_transport_options={"visibility_timeout": 3600, "confirm_publish": True},
    )
    # No retry limit of Celery's own: the wrapper counts tries itself (`failures`).
    for name, task in (
        ("labelbay.process_batch", _process_batch_task),
        ("labelbay.run_job", _run_job_task),
        ("labelbay.evaluate", _evaluate_task),
    ):
        app.task(name=name, bind=True, acks_late=True, max_retries=None)(task)
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


def _process_batch_task(self: Task[Any, Any], task_ids: list[int], failures: int = 0) -> None:
    from labelbay.jobs.tasks import fail_tasks, process_batch

    _with_retries(self, f"batch {task_ids[:3]}", process_batch, fail_tasks, task_ids, failures)


def _run_job_task(self: Task[Any, Any], job_id: int, failures: int = 0) -> None:
    """A whole job by its id (a label import)."""
    from labelbay.jobs.label_imports import fail_job, run_label_import

    _with_retries(self, f"job {job_id}", run_label_import, fail_job, job_id, failures)


def _evaluate_task(self: Task[Any, Any], evaluation_id: int, failures: int = 0) -> None:
    from labelbay.jobs.evaluate import fail_evaluation, process_evaluation

    what = f"evaluation {evaluation_id}"
    _with_retries(self, what, process_evaluation, fail_evaluation, evaluation_id, failures)


def _with_retries(
    task: Task[Any, Any],
    what: str,
    work: Callable[[Any, Any], object],
    give_up: Callable[[Any, Any, str], None],
    unit: Any,
    failures: int,
) -> None:
    """Run `work(deps, unit)` with retries. A failure counts as a try (`failures`, carried in the
    retried message); the database being unreachable does not: the work waits for it, retried
    with a capped backoff for as long as the outage lasts, never acknowledged into limbo (and a
    claimed batch's lease runs out meanwhile, so the sweeper re-queues it whatever happens to
    the message). After the last try `give_up` records why."""
    from labelbay.jobs.tasks import is_outage

    deps = worker_deps()
    settings = deps.settings
    try:
        work(deps, unit)
        return
    except Exception as exc:
        if is_outage(exc):
            backoff = settings.task_retry_backoff_s * 2 ** min(task.request.retries, 16)
            wait_s = min(settings.task_outage_backoff_max_s, backoff)
            log.warning("database unreachable for %s (again in %.1f s): %s", what, wait_s, exc)
            raise task.retry(
                exc=exc, countdown=wait_s, max_retries=None, kwargs={"failures": failures}
            ) from exc
        if failures + 1 >= settings.task_max_attempts:
            log.exception("%s failed for good after %d attempts", what, failures + 1)
            try:
                give_up(deps, unit, f"{type(exc).__name__}: {exc}")
            except Exception as during:
                if not is_outage(during):
                    raise
                raise task.retry(
                    exc=during, countdown=settings.task_outage_backoff_max_s, max_retries=None,
                    kwargs={"failures": failures},
                ) from during  # fmt: skip
            return
        raise task.retry(
            exc=exc,
            countdown=settings.task_retry_backoff_s * 2**failures,
            max_retries=None,
            kwargs={"failures": failures + 1},
        ) from exc


def _warm_up(**_: Any) -> None:
    """Each worker process opens the database and storage and fetches model files at start."""
    worker_deps()


worker_process_init.connect(_warm_up, weak=False)


celery_app = make_celery(get_settings())
