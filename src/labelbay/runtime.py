"""What any labelbay process needs to do work: database sessions, storage and the model cache.

The API's context, a Celery worker and the CLI all build theirs here, so they see the same
configuration the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labelbay.config import Settings
from labelbay.db.session import make_engine, make_sessionmaker
from labelbay.inference.registry import load_plugins
from labelbay.services.model_cache import ModelManager
from labelbay.storage import Locations, open_locations


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Locations
    models: ModelManager

    def close(self) -> None:
        self.models.close()
        self.engine.dispose()


def open_storage(settings: Settings) -> Locations:
    return open_locations(
        settings.storage_url,
        settings.storage_overrides(),
        s3_access_key_id=_secret(settings.s3_access_key_id),
        s3_secret_access_key=_secret(settings.s3_secret_access_key),
        s3_region=settings.s3_region,
    )


def build_runtime(settings: Settings) -> Runtime:
    load_plugins(settings.model_plugins)
    engine = make_engine(settings.database_url, echo=settings.database_echo)
    sessions = make_sessionmaker(engine)
    storage = open_storage(settings)
    models = ModelManager(
        sessions=sessions,
        store=storage.models,
        cache_dir=Path(settings.model_cache_dir),
        runtime_options=settings.runtime_options(),
    )
    return Runtime(settings, engine, sessions, storage, models)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
