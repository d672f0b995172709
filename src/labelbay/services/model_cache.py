"""Loaded models, by name or registry row: built-ins first, then the registry; artifacts cached on
local disk. (It reads registry rows, so it lives here, above the model layer it loads from.)

A worker (or the API's KServe endpoint) asks `get(name)`; the first call downloads the artifact
from the `models` storage location into the cache folder (checking its SHA-256, as the old Batch
Labeling service fetched its model at start-up), loads it, and keeps it for later calls.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from labelbay.db.models import ModelVersion
from labelbay.errors import NotFound
from labelbay.inference.base import Model, ModelError
from labelbay.inference.builtin import BUILTIN_NAMES, load_builtin
from labelbay.inference.registry import load_model
from labelbay.services.models import get_version, list_versions, spec_of
from labelbay.storage import ObjectStore


class ModelManager:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session] | None,
        store: ObjectStore | None,
        cache_dir: Path,
        runtime_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._runtime_options = dict(runtime_options or {})
        self._sessions = sessions
        self._store = store
        self._cache_dir = cache_dir
        self._loaded: dict[tuple[str, str | int], Model] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        names = set(BUILTIN_NAMES)
        if self._sessions is not None:
            with self._sessions() as session:
                names.update(row.name for row in list_versions(session) if row.is_active)
        return sorted(names)

    def get(self, name: str, version: str | None = None) -> Model:
        """The loaded model; `ModelError` when the name is unknown or the model cannot load.

        A registered name is resolved to its row on every call (one indexed query), so a newly
        activated version is used at once; the loaded model is cached per row.
        """
        if name in BUILTIN_NAMES and version is None and not self._registered(name):
            return self._cached(("builtin", name), lambda: load_builtin(name))
        if self._sessions is None:
            raise ModelError(f"unknown model {name!r}; built in: {', '.join(BUILTIN_NAMES)}")
        with self._sessions() as session:
            try:
                row_id = get_version(session, name=name, version=version).id
            except NotFound as exc:
                raise ModelError(str(exc)) from exc
        return self.get_by_id(row_id)

    def get_by_id(self, model_version_id: int) -> Model:
        """The loaded model of one registry row (what a job names)."""
        return self._cached(("row", model_version_id), lambda: self._load_row(model_version_id))

    def _cached(self, key: tuple[str, str | int], load: Callable[[], Model]) -> Model:
        with self._lock:
            model = self._loaded.get(key)
            if model is None:
                model = load()
                self._loaded[key] = model
            return model

    def _load_row(self, model_version_id: int) -> Model:
        if self._sessions is None:
            raise ModelError("no model registry configured")
        with self._sessions() as session:
            row = session.get(ModelVersion, model_version_id)
            if row is None:
                raise ModelError(f"model version {model_version_id} not found")
            local = None
            if row.artifact_key is not None:
                assert row.artifact_sha256 is not None
                local = self.fetch_artifact(row.artifact_key, row.artifact_sha256)
            spec = spec_of(row, local_path=local)
        return load_model(replace(spec, options={**self._runtime_options, **spec.options}))

    def _registered(self, name: str) -> bool:
        if self._sessions is None:
            return False
        with self._sessions() as session:
            return any(row.is_active for row in list_versions(session, name=name))

    def prefetch_active(self) -> int:
        """Download the artifacts of every active registered version into the cache (a worker
        does this when it starts, as the old batch service fetched its model at start-up)."""
        if self._sessions is None:
            return 0
        with self._sessions() as session:
            wanted = [
                (row.artifact_key, row.artifact_sha256)
                for row in list_versions(session)
                if row.is_active and row.artifact_key and row.artifact_sha256
            ]
        for key, sha in wanted:
            assert key is not None
            assert sha is not None
            self.fetch_artifact(key, sha)
        return len(wanted)

    def fetch_artifact(self, key: str, sha256: str) -> Path:
        """A local copy of an artifact, downloaded once and verified against its SHA-256."""
        suffix = Path(key).suffix
        target = self._cache_dir / f"{sha256}{suffix}"
        if target.is_file():
            return target
        if self._store is None:
            raise ModelError("no model storage configured")
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self._cache_dir, prefix=".download-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self._store.iter_chunks(key):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise ModelError(f"artifact {key} does not match its SHA-256; refusing to load it")
            os.replace(tmp, target)  # atomic: a concurrent reader sees all of the file or none
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    def close(self) -> None:
        with self._lock:
            for model in self._loaded.values():
                model.close()
            self._loaded.clear()
