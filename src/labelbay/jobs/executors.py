"""Where task batches run: model processes that the server supervises, Celery workers through a
broker, or at once in the caller's thread (the CLI).

All call the same `process_batch`; they differ only in transport and in who retries. Callers hand
task ids over through `jobs.start`, which commits first.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from kombu.exceptions import KombuError

from labelbay.jobs.evaluate import fail_evaluation, process_evaluation
from labelbay.jobs.label_imports import fail_job, run_label_import
from labelbay.jobs.model_processes import ModelProcessCrashed, ModelProcesses
from labelbay.jobs.tasks import fail_tasks, is_outage, process_batch
from labelbay.runtime import Runtime

log = logging.getLogger(__name__)


class PublishError(Exception):
    """The work could not be handed over (the broker is down); it stays in the outbox."""


class Executor(Protocol):
    def submit(self, task_ids: Sequence[int]) -> None:
        """Hand a batch over; raises `PublishError` when it could not be (nothing was sent)."""
        ...

    def submit_job(self, job_id: int) -> None:
        """Run a whole job that has no task rows (a label import) by its id; `PublishError` as
        for `submit`."""

    def submit_evaluation(self, evaluation_id: int) -> None:
        """Run an evaluation by its id; `PublishError` as for `submit`."""

    def close(self) -> None: ...


# An image alone may kill this many model processes before it fails (a crash can be transient:
# the kernel's OOM killer, a signal from outside).
CRASHES_PER_IMAGE = 2


# Tasks handed over together are cut into at least this many batches when there are that many:
# a small job still keeps several model processes (or workers) busy.
MIN_BATCHES = 8


def batches(task_ids: Sequence[int], size: int) -> list[list[int]]:
    """`task_ids` in batches of at most `size`, at least MIN_BATCHES of them where there are the
    tasks, and of equal sizes (give or take one), so that the processes finish together: 1,000
    tasks at 32 make 32 batches of 31 or 32, not 31 of 32 and one of 8; 40 make 8 of 5."""
    if not task_ids:
        return []
    count = max(-(-len(task_ids) // size), min(len(task_ids), MIN_BATCHES))
    bounds = [len(task_ids) * i // count for i in range(count + 1)]
    return [list(task_ids[start:end]) for start, end in itertools.pairwise(bounds)]


class InProcessExecutor:
    """The embedded default: batches run in model processes that `labelbay serve` supervises
    (see `model_processes`), never in the API process itself.

    A batch whose process dies is tried again one image at a time (on live processes), so only the
    image that crashes the model fails, with the reason ("the model process crashed: signal 11
    (SIGSEGV)"), once it has killed CRASHES_PER_IMAGE processes on its own.
    """

    def __init__(self, deps: Runtime, processes: ModelProcesses) -> None:
        self._deps = deps
        self._processes = processes

    def submit(self, task_ids: Sequence[int]) -> None:
        self._send(list(task_ids), crashes=0)

    def submit_job(self, job_id: int) -> None:
        self._call_unit(run_job, fail_job, job_id, f"job {job_id}")

    def submit_evaluation(self, evaluation_id: int) -> None:
        self._call_unit(
            run_evaluation, fail_evaluation, evaluation_id, f"evaluation {evaluation_id}"
        )

    def _call_unit(
        self,
        run: Callable[[Runtime, int], None],
        give_up: Callable[[Runtime, int, str], None],
        unit_id: int,
        what: str,
    ) -> None:
        """One unit of work by id (a label import, an evaluation) in a model process; a crash
        there fails it with the signal."""
        try:
            future = self._processes.call(run, unit_id)
        except RuntimeError:  # shutting down: left open in SQL, re-queued at the next start
            return
        future.add_done_callback(functools.partial(self._settle_unit, give_up, unit_id, what))

    def _settle_unit(
        self,
        give_up: Callable[[Runtime, int, str], None],
        unit_id: int,
        what: str,
        future: Future[Any],
    ) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, ModelProcessCrashed):
            try:
                give_up(self._deps, unit_id, str(exc))
            except Exception:
                log.exception("could not record the crash of %s", what)
        elif exc is not None:
            log.error("%s stopped: %s", what, exc)

    def _send(self, task_ids: list[int], *, crashes: int) -> None:
        try:
            future = self._processes.call(run_batch, task_ids)
        except RuntimeError:  # shutting down: left open in SQL, re-queued at the next start
            return
        future.add_done_callback(functools.partial(self._settle, task_ids, crashes))

    def _settle(self, task_ids: list[int], crashes: int, future: Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            return
        if not isinstance(exc, ModelProcessCrashed):
            # run_batch gives up on its own tasks; what escapes it is unexpected. The tasks stay
            # open in SQL; their leases run out and the sweeper re-queues them.
            log.error("batch %s stopped: %s", task_ids[:3], exc)
            return
        log.warning("batch %s: %s (crash %d)", task_ids[:3], exc, crashes + 1)
        if len(task_ids) > 1:  # find the image that does it: each is tried alone
            for task_id in task_ids:
                self._send([task_id], crashes=0)
        elif crashes + 1 < CRASHES_PER_IMAGE:
            self._send(task_ids, crashes=crashes + 1)
        else:
            try:
                fail_tasks(self._deps, task_ids, str(exc))
            except Exception:  # the database is away: the lease runs out, the sweeper takes over
                log.exception("could not record the crash of tasks %s", task_ids)

    def close(self) -> None:
        """Nothing of its own to stop: the model processes belong to the app's context."""


def run_batch(deps: Runtime, task_ids: list[int]) -> None:
    """A batch in a model process, with the settings' tries and back-off; after the last try its
    tasks fail with the reason. The same `process_batch` a Celery worker runs."""
    _with_tries(
        deps,
        lambda: process_batch(deps, task_ids),
        lambda reason: fail_tasks(deps, task_ids, reason),
        f"batch {task_ids[:3]}",
    )


def run_job(deps: Runtime, job_id: int) -> None:
    """A whole job without task rows (a label import) in a model process, with the same tries."""
    _with_tries(
        deps,
        lambda: run_label_import(deps, job_id),
        lambda reason: fail_job(deps, job_id, reason),
        f"job {job_id}",
    )


def run_evaluation(deps: Runtime, evaluation_id: int) -> None:
    """An evaluation in a model process, with the same tries."""
    _with_tries(
        deps,
        lambda: process_evaluation(deps, evaluation_id),
        lambda reason: fail_evaluation(deps, evaluation_id, reason),
        f"evaluation {evaluation_id}",
    )


def _with_tries(
    deps: Runtime, work: Callable[[], object], give_up: Callable[[str], None], what: str
) -> None:
    """Like the Celery task: failures count as tries, the database being away does not (the work
    waits for it with a capped back-off). If even giving up fails, the tasks' leases run out and
    the sweeper re-queues them."""
    settings = deps.settings
    attempt, outages = 1, 0
    while True:
        try:
            work()
            return
        except Exception as exc:
            if is_outage(exc):
                outages += 1
                log.warning("database unreachable for %s: %s", what, exc)
                backoff = settings.task_retry_backoff_s * 2 ** min(outages, 16)
                time.sleep(min(settings.task_outage_backoff_max_s, backoff))
                continue
            log.exception("%s failed (attempt %d)", what, attempt)
            if attempt >= settings.task_max_attempts:
                try:
                    give_up(f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.exception("could not record the failure of %s", what)
                return
            time.sleep(settings.task_retry_backoff_s * 2 ** (attempt - 1))
            attempt += 1


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
        self._send("labelbay.process_batch", [list(task_ids)])

    def submit_job(self, job_id: int) -> None:
        self._send("labelbay.run_job", [job_id])

    def submit_evaluation(self, evaluation_id: int) -> None:
        self._send("labelbay.evaluate", [evaluation_id])

    def _send(self, name: str, args: list[Any]) -> None:
        try:
            self._app.send_task(
                name, args=args, queue=self._queue, retry=True, retry_policy=_PUBLISH_RETRY
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

    def submit_job(self, job_id: int) -> None:
        run_label_import(self._deps, job_id)

    def submit_evaluation(self, evaluation_id: int) -> None:
        process_evaluation(self._deps, evaluation_id)

    def close(self) -> None:
        pass


def make_executor(deps: Runtime, processes: ModelProcesses) -> Executor:
    if deps.settings.executor == "celery":
        return CeleryExecutor(deps)
    return InProcessExecutor(deps, processes)
