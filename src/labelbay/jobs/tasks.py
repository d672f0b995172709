"""The task code: what a worker does with a batch of task ids. Same code in process and in Celery.

Every write is idempotent, so a batch that runs twice (a redelivered message after a worker was
killed, a re-queue after a restart) leaves the same visible state: the prediction is an upsert on
(image, model version), output objects have keys derived from the image, task and job status only
move forward, and the job's completion (and its callback) is claimed by one conditional UPDATE.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from labelbay.db.models import Image, Job, JobStatus, JobTask, Prediction, Project, TaskStatus
from labelbay.db.session import transaction
from labelbay.errors import Invalid
from labelbay.inference.base import Model
from labelbay.inference.detections import Detections
from labelbay.inference.imageio import decode_image
from labelbay.inference.pipeline import StageTimes, label_stream
from labelbay.inference.render import render_jpeg
from labelbay.inference.sam_onnx import SamOnnxModel
from labelbay.jobs import callbacks
from labelbay.jobs.service import refresh_counts
from labelbay.labels import Source, uncertainty
from labelbay.runtime import Runtime
from labelbay.services.assist import store_embedding
from labelbay.services.images import image_location
from labelbay.services.review import image_status_of

log = logging.getLogger(__name__)

OPEN_JOB = (JobStatus.queued.value, JobStatus.running.value)
OPEN_TASK = (TaskStatus.queued.value, TaskStatus.running.value)


@dataclass
class _Item:
    task_id: int
    image: Image
    data: bytes | None = None
    detections: Detections | None = None
    error: str | None = None
    ms: float = 0.0
    embedded: bool = False  # a promptable segmenter's job: the embedding is stored, no labels


def process_batch(deps: Runtime, task_ids: Sequence[int]) -> int:
    """Run the job's model over the images of these tasks; returns how many were processed.

    Transient failures (storage, database, model loading) raise, so the caller can retry the whole
    batch; a bad image fails only its own task, with the reason.
    """
    claimed = _claim(deps, task_ids)
    if not claimed:
        return 0
    job_id, model_version_id, save_outputs, items = claimed
    with _leased(deps, [item.task_id for item in items]):
        finished = _run_claimed(deps, job_id, model_version_id, save_outputs, items)
    if finished:
        _send_job_callback(deps, job_id)
    return len(items)


def _run_claimed(
    deps: Runtime, job_id: int, model_version_id: int, save_outputs: bool, items: list[_Item]
) -> bool:
    """Run the model over the claimed items and store the outcome; whether this batch finished
    the job (then its callback is the caller's to send, after the commit)."""
    stages: dict[str, float] = {"download": 0.0, "decode": 0.0, "infer": 0.0, "store": 0.0}
    model = deps.models.get_by_id(model_version_id)
    started = time.perf_counter()
    for item in items:
        store, key = image_location(item.image, storage=deps.storage, settings=deps.settings)
        item.data = store.get(key)
    stages["download"] = _ms(started)
    if isinstance(model, SamOnnxModel):
        _embed(deps, model, model_version_id, items, stages)
    else:
        _predict(model, items, stages)
    started = time.perf_counter()
    if save_outputs:
        # Object writes (and rendering) happen before the transaction, so it stays short.
        for item in items:
            if item.detections is not None:
                _save_outputs(deps, item)
    with transaction(deps.sessions) as session:
        # The job row is locked first: every insert below takes a key-share lock on it (foreign
        # keys), so locking it last would deadlock two batches finishing at once. Locked here,
        # batches queue for a few milliseconds instead, and the stage totals add up correctly.
        job = session.get_one(Job, job_id, with_for_update=True)
        done, failed = _store(
            session, job, model_version_id, items, classify=model.spec.task == "classify"
        )
        # Exact, not guessed: the task rows this transaction moved, under the job's lock. The
        # last batch (and every other path that ends tasks) counts the rows again.
        job.done += done
        job.failed += failed
        stages["store"] = _ms(started)  # measured here so that it is saved with the others
        job.stage_ms = {
            stage: job.stage_ms.get(stage, 0.0) + stages.get(stage, 0.0)
            for stage in {*job.stage_ms, *stages}
        }
        # In the same transaction, under the same lock: one commit per batch, not two.
        return _complete_if_done(session, job)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or dropped the connection (it is
    down, restarting, failing over): the batch should wait for it, not spend its tries."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True  # connection refused or cut, admin shutdown, serialization/deadlock, locked
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@contextmanager
def _leased(deps: Runtime, task_ids: list[int]) -> Iterator[None]:
    """Renew the tasks' lease every third of it while the block runs, so that only a worker that
    vanished (or lost its database) lets it expire; a failed renewal is only logged."""
    lease_s = deps.settings.task_lease_s
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_s / 3):
            try:
                with transaction(deps.sessions) as session:
                    session.execute(
                        update(JobTask)
                        .where(JobTask.id.in_(task_ids), JobTask.status == TaskStatus.running.value)
                        .values(lease_until=datetime.now(UTC) + timedelta(seconds=lease_s))
                    )
            except Exception as exc:  # the lease runs out; the sweeper takes over
                log.warning("could not renew the lease of tasks %s: %s", task_ids[:3], exc)

    # Not joined: a renewal stuck on an unreachable database must not hold the batch up.
    threading.Thread(target=renew, name="labelbay-lease", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def _claim(deps: Runtime, task_ids: Sequence[int]) -> tuple[int, int, bool, list[_Item]] | None:
    """Mark the tasks running; (job id, model version id, save outputs?, items), or None when
    nothing is left to do."""
    now = datetime.now(UTC)
    with transaction(deps.sessions) as session:
        rows = session.execute(
            select(JobTask, Image, Job)
            .join(Image, Image.id == JobTask.image_id)
            .join(Job, Job.id == JobTask.job_id)
            .where(
                JobTask.id.in_(list(task_ids)),
                JobTask.status.in_([TaskStatus.queued, TaskStatus.running]),
            )
        ).all()
        if not rows:
            return None
        job = rows[0][2]
        if job.status == JobStatus.cancelled:
            return None
        # The status condition again, in the UPDATE itself: a cancel that committed after the
        # SELECT above must not see its cancelled tasks turned back into running ones.
        ids = set(
            session.scalars(
                update(JobTask)
                .where(JobTask.id.in_([task.id for task, _, _ in rows]))
                .where(JobTask.status.in_(OPEN_TASK))
                .values(
                    status=TaskStatus.running.value,
                    attempts=JobTask.attempts + 1,
                    started_at=now,
                    lease_until=now + timedelta(seconds=deps.settings.task_lease_s),
                )
                .returning(JobTask.id)
                # The rows loaded above are not read again: no need to update them in Python.
                .execution_options(synchronize_session=False)
            )
        )
        if not ids:
            return None
        if job.status == JobStatus.queued:  # its first batch (or one of its first, at once)
            session.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == JobStatus.queued.value)
                .values(status=JobStatus.running.value, started_at=now)
            )
        items = [_Item(task_id=task.id, image=image) for task, image, _ in rows if task.id in ids]
        save_outputs = bool(job.options.get("save_outputs", True))
        assert job.model_version_id is not None  # a model's job (label imports have no tasks)
        return job.id, job.model_version_id, save_outputs, items


def _predict(model: Model, items: list[_Item], stages: dict[str, float]) -> None:
    """The batch through the shared labeling pipeline (the same one `labelbay label` uses), its
    default number of images per model call at a time: the next ones decode meanwhile, and a
    large batch of a large model never sits in memory as one tensor."""
    times = StageTimes()
    pairs = [(item, item.data) for item in items if item.data is not None]
    started = time.perf_counter()
    for result in label_stream(model, pairs, timings=times):
        item = result.key
        if result.detections is None:
            item.error = f"cannot decode image: {result.error}"
        else:
            item.detections = result.detections
    model_ms = (times.preprocess + times.infer + times.postprocess) * 1000
    stages["infer"] += model_ms
    # Decoding overlaps the model (the next images decode while it runs): the stage is the time
    # the batch waited for it, so that the stages add up to the batch's time.
    stages["decode"] += max(0.0, _ms(started) - model_ms)
    for item in items:
        item.ms = model_ms / max(1, times.images)


def _embed(
    deps: Runtime,
    model: SamOnnxModel,
    model_version_id: int,
    items: list[_Item],
    stages: dict[str, float],
) -> None:
    """A SAM model's job: each image's embedding into object storage, where clicks find it."""
    for item in items:
        assert item.data is not None
        started = time.perf_counter()
        try:
            store_embedding(
                model, model_version_id, item.image.id, item.data, store=deps.storage.output
            )
        except Invalid as exc:
            item.error = str(exc)
        else:
            item.embedded = True
        item.ms = _ms(started)
        stages["infer"] += item.ms


def _upsert_predictions(session: Session, rows: list[dict[str, Any]]) -> None:
    """The batch's predictions, one row per image and model, in one statement whose rows travel
    as its parameter list (a VALUES list written into it would be compiled again every batch)."""
    if rows:
        upsert = _prediction_upsert(session.get_bind().dialect.name)
        session.execute(upsert, [{**row, "of": row["image_id"]} for row in rows])


@functools.cache
def _prediction_upsert(dialect: str) -> Executable:
    """The predictions upsert for `dialect`, built once per process."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # A new row takes its image's review state; a re-run leaves the row's copy as it is.
    stmt = insert(Prediction).values(image_status=image_status_of(bindparam("of")))
    changing = {
        key: stmt.excluded[key]
        for key in (
            "job_id",
            "detections",
            "num_detections",
            "uncertainty",
            "processing_time_ms",
            "updated_at",
        )
    }
    return stmt.on_conflict_do_update(
        index_elements=["image_id", "model_version_id"], set_=changing
    )


def _store(
    session: Session, job: Job, model_version_id: int, items: list[_Item], *, classify: bool
) -> tuple[int, int]:
    """The batch's predictions and task outcomes, a few statements for the whole batch; (tasks
    done, tasks failed) by this call."""
    now = datetime.now(UTC)
    # Queued too: the sweeper may have put the task back (its lease ran out while the database
    # was away) while this batch still finished it; its next run then finds it done.
    still_open = JobTask.status.in_(OPEN_TASK)
    predictions: dict[uuid.UUID, dict[str, Any]] = {}
    done: list[int] = []
    failed = 0
    for item in items:
        if item.embedded:
            done.append(item.task_id)
            continue
        if item.detections is None:
            failed += _rowcount(
                session.execute(
                    update(JobTask)
                    .where(JobTask.id == item.task_id, still_open)
                    .values(status=TaskStatus.failed.value, error=item.error, finished_at=now)
                )
            )
            continue
        found = item.detections.to_labels(
            width=item.image.width,
            height=item.image.height,
            source=Source(model_version_id=model_version_id),
            classify=classify,
        )
        rows = [label.to_json() for label in found]
        # Keyed by image: one statement may not touch a row twice.
        predictions[item.image.id] = {
            "image_id": item.image.id,
            "model_version_id": model_version_id,
            "job_id": job.id,
            "detections": rows,
            "num_detections": len(rows),
            "uncertainty": uncertainty(found),
            "processing_time_ms": round(item.ms, 3),
            "created_at": now,
            "updated_at": now,
        }
        done.append(item.task_id)
    _upsert_predictions(session, list(predictions.values()))
    finished = 0
    if done:
        finished = _rowcount(
            session.execute(
                update(JobTask)
                .where(JobTask.id.in_(done), still_open)
                .values(status=TaskStatus.done.value, error=None, finished_at=now)
            )
        )
    return finished, failed


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _save_outputs(deps: Runtime, item: _Item) -> None:
    """The old batch service's outputs: a rendered copy when something was found, else the
    original in the no-label location. Same key as the input, so a re-run overwrites."""
    assert item.detections is not None and item.data is not None
    key = item.image.storage_key
    if len(item.detections):
        pixels = decode_image(item.data).pixels
        rendered = render_jpeg(pixels, item.detections)
        deps.storage.output.put(key.rsplit(".", 1)[0] + ".jpg", rendered, content_type="image/jpeg")
    else:
        deps.storage.nolabel.put(key, item.data, content_type=item.image.mime_type)


def finish_job_if_done(deps: Runtime, job_id: int) -> None:
    """Count an open job's tasks and complete (or fail) it when none is open, then send its
    callback; the one conditional UPDATE makes sure only one caller does."""
    with transaction(deps.sessions) as session:
        # Locked: without it a finisher that counted before another batch's commit could write
        # its stale counts over the final ones after that other finisher completed the job.
        job = session.get(Job, job_id, with_for_update=True)
        assert job is not None
        finished = _complete_if_done(session, job)  # counts the tasks when it completes the job
        if not finished:
            refresh_counts(session, job=job)
    if finished:
        _send_job_callback(deps, job_id)


def _complete_if_done(session: Session, job: Job) -> bool:
    """Complete (or fail) `job`, locked by the caller, when it has no open task left, with its
    counts taken from the task rows; whether this call did (the caller then sends the callback,
    after its commit)."""
    if job.status not in OPEN_JOB:
        return False
    open_task = session.scalar(
        select(
            exists().where(
                JobTask.job_id == job.id,
                JobTask.status.in_(OPEN_TASK),
            )
        )
    )
    if open_task:
        return False
    refresh_counts(session, job=job)
    final = JobStatus.failed if job.done == 0 and job.failed else JobStatus.completed
    claimed = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(OPEN_JOB))
        .values(status=final.value, finished_at=datetime.now(UTC), done=job.done, failed=job.failed)
    )
    return _rowcount(claimed) == 1  # else another worker finished it first


def job_payload(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "project_id": job.project_id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "results_url": f"/api/v1/jobs/{job.id}/results",
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _send_job_callback(deps: Runtime, job_id: int) -> None:
    with deps.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        if not job.callback_url:
            return
        project = session.get(Project, job.project_id)
        assert project is not None
        payload, url, secret = job_payload(job), job.callback_url, project.callback_secret
    settings = deps.settings
    outcome = callbacks.deliver(
        url,
        payload,
        secret=secret,
        allowlist=settings.callback_allowlist,
        timeout_s=settings.callback_timeout_s,
        max_attempts=settings.callback_max_attempts,
        backoff_s=settings.callback_backoff_s,
    )
    with transaction(deps.sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                callback_status="delivered" if outcome.delivered else "failed",
                callback_attempts=outcome.attempts,
                callback_error=outcome.error,
            )
        )


def fail_tasks(deps: Runtime, task_ids: Sequence[int], reason: str) -> None:
    """Give up on tasks after their last attempt, recording why; the job may finish with it."""
    now = datetime.now(UTC)
    with transaction(deps.sessions) as session:
        job_ids = set(session.scalars(select(JobTask.job_id).where(JobTask.id.in_(list(task_ids)))))
        session.execute(
            update(JobTask)
            .where(
                JobTask.id.in_(list(task_ids)),
                JobTask.status.in_([TaskStatus.queued, TaskStatus.running]),
            )
            .values(status=TaskStatus.failed.value, error=reason[:2000], finished_at=now)
        )
    for job_id in job_ids:
        finish_job_if_done(deps, job_id)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
