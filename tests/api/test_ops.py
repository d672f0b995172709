"""Operations: liveness, readiness, settings shown without secrets, metrics, request ids, rate
limits, and settings that refuse to run production on the development secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from labelbay.api.app import create_app
from labelbay.config import DEV_SECRET_KEY, Settings
from tests.api.factories import image_part, jpeg_bytes, upload
from tests.support.databases import PG_ADMIN_DSN
from tests.support.stack import Stack, make_settings

DEAD_POSTGRES = "postgresql+psycopg://labelbay@127.0.0.1:1/labelbay"
DEAD_S3 = "s3://nowhere?endpoint=http://127.0.0.1:1&region=us-east-1"


@contextmanager
def running(
    database_url: str, storage_url: str, *, startup: bool = True, **overrides: Any
) -> Iterator[Stack]:
    """An app on these URLs. `startup=False` skips the lifespan (start-up work touches the
    database, so an app over a dead one could not start), to test how requests are answered."""
    settings = make_settings(database_url, storage_url, **overrides)
    app = create_app(settings)
    if startup:
        with TestClient(app) as client:
            yield Stack(name="custom", settings=settings, app=app, client=client)
        return
    try:
        yield Stack(name="custom", settings=settings, app=app, client=TestClient(app))
    finally:
        app.state.context.close()


def test_health(stack: Stack) -> None:
    answer = stack.client.get("/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_ready_when_database_and_storage_answer(stack: Stack) -> None:
    answer = stack.client.get("/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}


def test_not_ready_when_postgres_is_down(tmp_path: Path) -> None:
    with running(DEAD_POSTGRES, f"file://{tmp_path}/objects", startup=False) as stack:
        answer = stack.client.get("/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready"
    assert body["checks"]["storage"] == "ok"
    assert body["checks"]["database"].startswith("error: OperationalError")


def test_not_ready_when_postgres_goes_away_while_running(postgres_url: str, tmp_path: Path) -> None:
    with running(postgres_url, f"file://{tmp_path}/objects") as stack:
        assert stack.client.get("/ready").status_code == 200
        name = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        answer = stack.client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith("error: OperationalError")


def test_not_ready_when_s3_is_down(sqlite_url: str) -> None:
    with running(sqlite_url, DEAD_S3) as stack:
        answer = stack.client.get("/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"].startswith("error: StorageError")


def test_not_ready_when_the_storage_folder_is_gone(sqlite_url: str, tmp_path: Path) -> None:
    with running(sqlite_url, f"file://{tmp_path}/objects") as stack:
        (tmp_path / "objects" / "input").rmdir()
        answer = stack.client.get("/ready")
    assert answer.status_code == 503
    assert "storage folder missing" in answer.json()["checks"]["storage"]


SECRETS = {
    "secret_key": "signing-key-that-must-never-be-shown-0123456789",
    "s3_access_key_id": "AKIASHOULDNOTLEAK",
    "s3_secret_access_key": "s3-secret-that-should-not-leak",
}
DB_PASSWORD = "pg-password-should-not-leak"


def test_config_hides_secrets(postgres_url: str, tmp_path: Path) -> None:
    # The test server trusts loopback, so a password in the URL is accepted and ignored.
    scheme, rest = postgres_url.split("://", 1)
    user, host = rest.split("@", 1)
    database = f"{scheme}://{user.split(':')[0]}:{DB_PASSWORD}@{host}"
    with running(
        database,
        f"file://{tmp_path}/objects",
        rate_limit_storage_url="memory://",
        **SECRETS,
    ) as stack:
        answer = stack.client.get("/config")
    assert answer.status_code == 200
    text = answer.text
    for secret in (*SECRETS.values(), DB_PASSWORD):
        assert secret not in text
    body = answer.json()
    assert body["database_url"] == f"{scheme}://{user.split(':')[0]}:***@{host}"
    assert {"secret_key", "s3_access_key_id", "s3_secret_access_key"}.isdisjoint(body)
    assert body["environment"] == "test"


def test_openapi_docs_are_served(stack: Stack) -> None:
    assert stack.client.get("/docs").status_code == 200
    paths = stack.client.get("/openapi.json").json()["paths"]
    assert "/api/v1/projects/{project_id}/images" in paths


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{{{wanted}}}")


def test_metrics_count_uploads(stack: Stack) -> None:
    owner = stack.quick_user("owner@example.com")
    project_id = stack.project(owner)["id"]
    good = jpeg_bytes()
    answer = upload(
        stack,
        project_id,
        owner,
        image_part(good, "good.jpg"),
        image_part(b"not an image", "bad.jpg"),
        image_part(b"", "empty.jpg"),
    )
    assert answer.status_code == 201

    metrics = stack.client.get("/metrics")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert _metric(text, "labelbay_uploads_total", outcome="stored") == 1
    assert _metric(text, "labelbay_uploads_total", outcome="rejected") == 2
    assert _metric(text, "labelbay_upload_bytes_total") == len(good)
    assert (
        _metric(
            text,
            "labelbay_http_requests_total",
            method="POST",
            route="/api/v1/projects/{project_id}/images",
            status="201",
        )
        == 1
    )
    assert "labelbay_http_request_duration_seconds_bucket" in text


def test_request_id_is_echoed_or_made(stack: Stack) -> None:
    echoed = stack.client.get("/health", headers={"X-Request-ID": "trace-abc-123"})
    assert echoed.headers["x-request-id"] == "trace-abc-123"
    made = stack.client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert stack.client.get("/health").headers["x-request-id"] != made.headers["x-request-id"]
    too_long = stack.client.get("/health", headers={"X-Request-ID": "x" * 101})
    assert re.fullmatch(r"[0-9a-f]{32}", too_long.headers["x-request-id"])
    on_error = stack.client.get("/api/v1/users/me", headers={"X-Request-ID": "err-1"})
    assert on_error.status_code == 401
    assert on_error.headers["x-request-id"] == "err-1"


def test_rate_limit_per_ip(sqlite_url: str, tmp_path: Path) -> None:
    with running(
        sqlite_url,
        f"file://{tmp_path}/objects",
        rate_limit_enabled=True,
        rate_limit_per_ip="5/minute",
        rate_limit_per_user="1000/minute",
    ) as stack:
        answers = [stack.client.get("/api/v1/projects") for _ in range(6)]
        health = stack.client.get("/health")
        metrics = stack.client.get("/metrics").text

    assert [a.status_code for a in answers] == [401] * 5 + [429]
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many requests" in refused.json()["detail"]
    assert "x-request-id" in refused.headers
    assert health.status_code == 200  # probes are never limited
    assert _metric(metrics, "labelbay_rate_limited_total", scope="ip") == 1


def test_rate_limit_per_user(sqlite_url: str, tmp_path: Path) -> None:
    with running(
        sqlite_url,
        f"file://{tmp_path}/objects",
        rate_limit_enabled=True,
        rate_limit_per_ip="1000/minute",
        rate_limit_per_user="3/minute",
    ) as stack:
        alice = stack.user("alice@example.com")
        bob = stack.user("bob@example.com")
        alices = [stack.client.get("/api/v1/users/me", headers=alice) for _ in range(4)]
        bobs = stack.client.get("/api/v1/users/me", headers=bob)
        metrics = stack.client.get("/metrics").text

    assert [a.status_code for a in alices] == [200, 200, 200, 429]
    refused = alices[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["detail"] == "too many requests for this user; slow down"
    assert bobs.status_code == 200  # one user's limit is not another's
    assert _metric(metrics, "labelbay_rate_limited_total", scope="user") == 1


@pytest.mark.parametrize(
    "secret",
    [None, DEV_SECRET_KEY, "short-secret"],
    ids=["default", "the-dev-secret-spelled-out", "too-short"],
)
def test_production_refuses_a_weak_secret(secret: str | None) -> None:
    values: dict[str, Any] = {"environment": "production"}
    if secret is not None:
        values["secret_key"] = secret
    with pytest.raises(ValidationError, match="LABELBAY_SECRET_KEY"):
        Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_accepts_a_strong_secret() -> None:
    settings = Settings(_env_file=None, environment="production", secret_key="x" * 40)  # type: ignore[call-arg]
    assert settings.environment == "production"


def test_development_and_test_may_use_the_default_secret() -> None:
    for environment in ("development", "test"):
        settings = Settings(_env_file=None, environment=environment)  # type: ignore[call-arg]
        assert settings.secret_key.get_secret_value() == DEV_SECRET_KEY


def test_settings_read_the_labelbay_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELBAY_ENVIRONMENT", "production")
    monkeypatch.setenv("LABELBAY_SECRET_KEY", "e" * 48)
    monkeypatch.setenv("LABELBAY_MAX_UPLOAD_BYTES", "12345")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.environment, settings.max_upload_bytes) == ("production", 12345)
    monkeypatch.delenv("LABELBAY_SECRET_KEY")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
