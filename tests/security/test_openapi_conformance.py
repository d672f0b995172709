"""Item 10: the OpenAPI schema says what each route really answers. schemathesis generates
requests for every operation from the app's own schema and sends them as a signed-in user; each
answer must not be a server error, and its status code and body must be those the schema lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from labelbay.api.app import create_app
from tests.support.stack import Stack, make_settings

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def fuzzed(sqlite_url: str, tmp_path: Path) -> Iterator[Stack]:
    """The embedded stack (the HTTP layer is the same on both), analyses API on."""
    settings = make_settings(
        sqlite_url,
        f"file://{tmp_path}/objects",
        model_cache_dir=str(tmp_path / "model-cache"),
        ml_analysis_enabled=True,
        ml_callback_hmac_secret="s" * 32,
        legacy_project_id=1,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Stack(name="embedded", settings=settings, app=app, client=client)


@pytest.fixture
def signed_in(fuzzed: Stack) -> dict[str, str]:
    headers = fuzzed.quick_user("fuzz@example.com", admin=True)
    project = fuzzed.project(headers)
    assert project["id"] == 1  # generated ids hit something real now and then
    return headers


def _failures(operation: Any, headers: dict[str, str]) -> list[str]:
    """Run the operation's generated cases; the first failure's text, if any."""
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # failure groups and hypothesis errors
        failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return failures


def test_item10_every_answer_is_in_the_schema(fuzzed: Stack, signed_in: dict[str, str]) -> None:
    """schemathesis' pytest integration (`from_fixture`) does not run on pytest 9, so the
    operations are walked here: a bounded number of generated requests for each."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        failures.extend(_failures(operation, signed_in))
    assert not failures, "\n\n".join(failures)
