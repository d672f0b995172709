"""What the running app holds: settings, the database, storage, limits and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labelbay.api.metrics import Metrics
from labelbay.config import Settings
from labelbay.db.session import make_engine, make_sessionmaker
from labelbay.inference.manager import ModelManager
from labelbay.security.ratelimit import RateLimiter
from labelbay.storage import Locations, open_locations


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Locations
    limiter: RateLimiter | None
    metrics: Metrics
    models: ModelManager

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        engine = make_engine(settings.database_url, echo=settings.database_echo)
        storage = open_locations(
            settings.storage_url,
            settings.storage_overrides(),
            s3_access_key_id=_secret(settings.s3_access_key_id),
            s3_secret_access_key=_secret(settings.s3_secret_access_key),
            s3_region=settings.s3_region,
        )
        limiter = (
            RateLimiter(
                per_user=settings.rate_limit_per_user,
                per_ip=settings.rate_limit_per_ip,
                storage_url=settings.rate_limit_storage_url,
            )
            if settings.rate_limit_enabled
            else None
        )
        sessions = make_sessionmaker(engine)
        models = ModelManager(
            sessions=sessions,
            store=storage.models,
            cache_dir=Path(settings.model_cache_dir),
            runtime_options=settings.runtime_options(),
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            models=models,
            storage=storage,
            limiter=limiter,
            metrics=Metrics(),
        )

    def close(self) -> None:
        self.models.close()
        self.engine.dispose()


def _secret(value: object) -> str | None:
    from pydantic import SecretStr

    return value.get_secret_value() if isinstance(value, SecretStr) else None
