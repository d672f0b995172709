"""Job metrics read from SQL at scrape time: queue depth, tasks by status, time per stage.

SQL is the truth for jobs (workers may be other processes or hosts), so these are gauges and
counters computed from the rows, not counted in this process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from labelbay.db.models import Job, JobStatus, JobTask


class JobsCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._sessions() as session:
            by_status = dict(
                session.execute(select(JobTask.status, func.count()).group_by(JobTask.status)).all()
            )
            open_jobs = session.scalar(
                select(func.count()).where(Job.status.in_([JobStatus.queued, JobStatus.running]))
            )
            stage_ms: dict[str, float] = {}
            for stages in session.scalars(select(Job.stage_ms)):
                for stage, ms in (stages or {}).items():
                    stage_ms[stage] = stage_ms.get(stage, 0.0) + float(ms)
        depth = GaugeMetricFamily(
            "labelbay_queue_depth", "Job tasks waiting or running.", labels=["status"]
        )
        for status in ("queued", "running"):
            depth.add_metric([status], by_status.get(status, 0))
        yield depth
        tasks = CounterMetricFamily(
            "labelbay_job_tasks", "Job tasks that ended, by outcome.", labels=["status"]
        )
        for status in ("done", "failed", "cancelled"):
            tasks.add_metric([status], by_status.get(status, 0))
        yield tasks
        yield GaugeMetricFamily(
            "labelbay_jobs_open", "Jobs queued or running.", value=open_jobs or 0
        )
        seconds = CounterMetricFamily(
            "labelbay_job_stage_seconds", "Time spent per task stage.", labels=["stage"]
        )
        for stage in ("download", "decode", "infer", "store"):
            seconds.add_metric([stage], stage_ms.get(stage, 0.0) / 1000)
        yield seconds
