"""The outbox and the sweeper on both stacks, with the app's own dispatcher thread and executor:
tasks committed but never published (what an API killed between commit and publish leaves) get
published, and running tasks whose lease ran out (what a vanished worker leaves) are re-queued,
or failed with the reason once they have used up their tries. The faults themselves, made for
real, are in `tests/chaos/`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from labelbay.db.models import JobTask, Project, TaskStatus
from labelbay.db.session import transaction
from labelbay.jobs.executors import MIN_BATCHES, batches
from labelbay.jobs.service import create_job
from tests.jobs.helpers import photo_jpegs, upload, wait_for_job
from tests.support.stack import Stack


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {"dispatch_interval_s": 0.2, "dispatch_grace_s": 2.0, "job_batch_size": 2}


def committed_job(stack: Stack, count: int) -> tuple[dict[str, str], int]:
    """A job of `count` images committed and never published; (headers, job id)."""
    headers = stack.quick_user("ops@example.com", admin=True)
    project_id = stack.project(headers)["id"]
    upload(stack, headers, project_id, photo_jpegs(count))
    with transaction(stack.context.sessions) as session:
        project = session.get_one(Project, project_id)
        job = create_job(session, project=project, user=None, model_name="circles")
        return headers, job.id


def test_tasks_nobody_published_are_dispatched(stack: Stack) -> None:
    headers, job_id = committed_job(stack, 5)
    job = wait_for_job(stack, headers, job_id, timeout=60)
    assert (job["status"], job["done"], job["failed"]) == ("completed", 5, 0)
    with stack.context.sessions() as session:
        published = session.scalars(select(JobTask.published_at).where(JobTask.job_id == job_id))
        assert all(when is not None for when in published)


@pytest.mark.parametrize(
    ("attempts", "status", "done", "failed"),
    [(1, "completed", 4, 0), (3, "failed", 0, 4)],
    ids=["re-queued", "tries-used-up"],
)
def test_expired_leases_are_swept(
    stack: Stack, attempts: int, status: str, done: int, failed: int
) -> None:
    # Left as a worker that claimed the tasks and vanished leaves them (the dispatcher waits for
    # the grace period, so it cannot publish them before this update).
    headers, job_id = committed_job(stack, 4)
    expired = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(stack.context.sessions) as session:
        session.execute(
            update(JobTask)
            .where(JobTask.job_id == job_id)
            .values(
                status=TaskStatus.running.value,
                attempts=attempts,
                lease_until=expired,
                published_at=expired,
            )
        )
    job = wait_for_job(stack, headers, job_id, timeout=60)
    assert (job["status"], job["done"], job["failed"]) == (status, done, failed)
    if failed:
        with stack.context.sessions() as session:
            errors = set(session.scalars(select(JobTask.error).where(JobTask.job_id == job_id)))
        assert errors == {"its worker stopped (lease expired) on each of 3 tries"}


@pytest.mark.parametrize(
    ("tasks", "size", "sizes"),
    [
        (1000, 32, {31, 32}),  # 32 batches: the last is not a short one that finishes early
        (40, 32, {5}),  # a small job is still 8 batches, for 8 processes or workers
        (12, 4, {1, 2}),
        (5, 8, {1}),
    ],
)
def test_batches_are_even_and_at_least_eight(tasks: int, size: int, sizes: set[int]) -> None:
    cut = batches(list(range(tasks)), size)
    assert [task for batch in cut for task in batch] == list(range(tasks))
    assert {len(batch) for batch in cut} == sizes
    assert len(cut) >= min(tasks, MIN_BATCHES)
