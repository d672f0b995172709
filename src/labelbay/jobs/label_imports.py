"""The task code of a label-import job: what a worker does with its job id. Same code in process
and in Celery.

The job moves queued → running → completed (or failed, with the reason). While it runs, its
`progress` counts (records read, labels added, problems, …) are saved after every chunk, so
`GET /jobs/{id}` shows them; at the end its `report` holds the problems with their places and the
names that matched no image. A redelivered message finds the job finished and does nothing; one
that finds it still running (its worker died) runs the import again, which changes nothing that
the first run stored (the import is idempotent). A cancel stops it at the next chunk.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import update

from labelbay.db.models import Job, JobKind, JobStatus
from labelbay.db.session import transaction
from labelbay.errors import Invalid
from labelbay.imports.label_files import drop_upload, open_files
from labelbay.imports.label_import import LabelImport, Request, import_labels
from labelbay.runtime import Runtime

log = logging.getLogger(__name__)


def run_label_import(deps: Runtime, job_id: int) -> None:
    """Run the import; a transient failure (storage, database) raises for the executor to retry,
    files that are not of the format fail the job with the reason."""
    now = datetime.now(UTC)
    with transaction(deps.sessions) as session:
        job = session.get(Job, job_id)
        if job is None or job.kind != JobKind.label_import:
            return
        if job.status not in (JobStatus.queued, JobStatus.running):
            return
        job.status, job.started_at = JobStatus.running.value, job.started_at or now
        selection, options = dict(job.selection), dict(job.options)
        request = Request(
            project_id=job.project_id,
            user_id=job.created_by_id,
            format=str(options["format"]),
            target=options["target"],
            model_version_id=job.model_version_id,
            with_images=bool(options.get("with_images", False)),
        )
    last = LabelImport()

    def checkpoint(report: LabelImport) -> bool:
        nonlocal last
        last = report
        with transaction(deps.sessions) as session:
            row = session.get_one(Job, job_id)
            if row.status == JobStatus.cancelled:
                return False
            row.progress = report.counts()
            return True

    try:
        with open_files(deps, selection) as bundle:
            report = import_labels(deps, request=request, bundle=bundle, checkpoint=checkpoint)
    except Invalid as exc:
        _finish(deps, job_id, last, error=str(exc))
    else:
        _finish(deps, job_id, report, error=None)
    drop_upload(deps, selection)


def fail_job(deps: Runtime, job_id: int, reason: str) -> None:
    """Give up on a label import after its last attempt, recording why."""
    with transaction(deps.sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_([JobStatus.queued, JobStatus.running]))
            .values(
                status=JobStatus.failed.value, error=reason[:2000], finished_at=datetime.now(UTC)
            )
        )
        selection = dict(session.get_one(Job, job_id).selection)
    drop_upload(deps, selection)


def _finish(deps: Runtime, job_id: int, report: LabelImport, *, error: str | None) -> None:
    status = JobStatus.failed if error else JobStatus.completed
    with transaction(deps.sessions) as session:
        # Conditional: a cancelled job stays cancelled (with what it did until then).
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.running.value)
            .values(status=status.value, error=error, finished_at=datetime.now(UTC))
        )
        row = session.get_one(Job, job_id)
        row.progress, row.report = report.counts(), report.lists()
    log.info("label import %s: %s %s", job_id, status.value, report.counts())
