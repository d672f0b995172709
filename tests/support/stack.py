"""pytest plugin: a whole labelbay (settings, app, client) on one of the two stacks.

`stack` is parametrized: `embedded` = SQLite + local folder, `distributed` = PostgreSQL + S3 (moto
server). Tests that use it run on both. `live_server` runs the same app under a real uvicorn on
127.0.0.1, for tests that need real sockets (concurrency, interrupted uploads).
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from labelbay.api.app import create_app
from labelbay.api.context import AppContext
from labelbay.config import Settings
from labelbay.db.models import User
from labelbay.db.session import transaction
from labelbay.security.passwords import hash_password
from labelbay.security.tokens import create_access_token
from labelbay.services.users import create_user

PASSWORD = "correct-horse-battery"


@dataclass
class Stack:
    name: str
    settings: Settings
    app: FastAPI
    client: TestClient
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> AppContext:
        context: AppContext = self.app.state.context
        return context

    def user(self, email: str, *, admin: bool = False) -> dict[str, str]:
        """Create a user and return auth headers for them."""
        with transaction(self.context.sessions) as session:
            create_user(session, email=email, password=PASSWORD, is_admin=admin)
        return self.login(email)

    def quick_user(self, email: str, *, admin: bool = False) -> dict[str, str]:
        """Like `user()`, without its two deliberately slow Argon2 runs: the row gets a hash of
        PASSWORD computed once per session and the token is minted directly. For tests about
        something other than signing in (which `user()` and the auth tests exercise)."""
        with transaction(self.context.sessions) as session:
            row = User(email=email.strip().lower(), password_hash=_password_hash(), is_admin=admin)
            session.add(row)
            session.flush()
            user_id = row.id
        token = create_access_token(
            user_id=user_id,
            secret=self.settings.secret_key.get_secret_value(),
            algorithm=self.settings.jwt_algorithm,
            expires_in=timedelta(hours=1),
        )
        return {"Authorization": f"Bearer {token}"}

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        answer = self.client.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def project(self, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        body.setdefault("name", "project")
        answer = self.client.post("/api/v1/projects", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def object_keys(self) -> set[str]:
        """Every object in the input location, read through the store's own listing."""
        return {info.key for info in self.context.storage.input.list("")}


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def make_settings(database_url: str, storage_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "storage_url": storage_url,
        "rate_limit_enabled": False,
        "log_json": False,
        # The tests' own model format, in every process that may load a model.
        "model_plugins": ["tests.support.fixed_model"],
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(params=["embedded", "distributed"])
def stack_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(stack name, database URL, storage URL) for each of the two stacks."""
    if request.param == "embedded":
        return "embedded", request.getfixturevalue("sqlite_url"), f"file://{tmp_path}/objects"
    database = request.getfixturevalue("postgres_url")
    bucket = request.getfixturevalue("s3_bucket")
    moto = request.getfixturevalue("moto_s3")
    return "distributed", database, f"s3://{bucket}?endpoint={moto.endpoint_url}&region=us-east-1"


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings of the `stack` fixture."""
    return {}


@pytest.fixture
def stack(
    stack_urls: tuple[str, str, str],
    stack_settings_overrides: dict[str, Any],
    tmp_path: Path,
) -> Iterator[Stack]:
    name, database_url, storage_url = stack_urls
    overrides = {"model_cache_dir": str(tmp_path / "model-cache"), **stack_settings_overrides}
    settings = make_settings(database_url, storage_url, **overrides)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Stack(name=name, settings=settings, app=app, client=client)


@dataclass
class LiveServer:
    base_url: str
    stack: Stack

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=120, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(stack: Stack) -> Iterator[LiveServer]:
    """The stack's app under a real uvicorn on 127.0.0.1, in a thread of this process."""
    port = free_port()
    config = uvicorn.Config(stack.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", stack=stack)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
