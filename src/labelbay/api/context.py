"""What the running app holds: the runtime (database, storage, models), limits, metrics, executor."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labelbay.api.job_metrics import JobsCollector
from labelbay.api.metrics import Metrics
from labelbay.config import Settings
from labelbay.jobs.executors import Executor, make_executor
from labelbay.jobs.model_processes import ModelProcesses, ProcessModels, default_size
from labelbay.runtime import Runtime, build_runtime
from labelbay.security.ratelimit import RateLimiter
from labelbay.storage import Locations


@dataclass
class AppContext:
    runtime: Runtime
    limiter: RateLimiter | None
    metrics: Metrics
    processes: ModelProcesses
    executor: Executor

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.sessions

    @property
    def storage(self) -> Locations:
        return self.runtime.storage

    @property
    def models(self) -> ProcessModels:
        """The models this app serves (KServe v2): loaded and run in the model processes."""
        return ProcessModels(self.processes, self.runtime.models)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        runtime = build_runtime(settings)
        limiter = (
            RateLimiter(
                per_user=settings.rate_limit_per_user,
                per_ip=settings.rate_limit_per_ip,
                per_login=settings.rate_limit_login_per_account,
                storage_url=settings.rate_limit_storage_url,
            )
            if settings.rate_limit_enabled
            else None
        )
        metrics = Metrics()
        metrics.registry.register(JobsCollector(runtime.sessions))
        processes = ModelProcesses(settings, size=settings.inprocess_workers or default_size())
        return cls(
            runtime=runtime,
            limiter=limiter,
            metrics=metrics,
            processes=processes,
            executor=make_executor(runtime, processes),
        )

    def close(self) -> None:
        self.executor.close()
        self.processes.close()
        self.runtime.close()
