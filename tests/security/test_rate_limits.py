"""Item 8: forwarded headers only from trusted proxies, per-user refusals that do not spend the
address's budget, and sign-in throttling per account."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.conftest import EMBEDDED, start_server
from tests.support.stack import PASSWORD, Stack


def _refused_with_rotating_forwarded_for(tmp_path: Path, **env: str) -> int:
    server = start_server(
        tmp_path,
        LABELBAY_RATE_LIMIT_ENABLED="true",
        LABELBAY_RATE_LIMIT_PER_IP="5/minute",
        **env,
    )
    try:
        with httpx.Client(base_url=server.base_url) as client:
            codes = [
                client.get(
                    "/api/v1/users/me", headers={"X-Forwarded-For": f"203.0.113.{n}"}
                ).status_code
                for n in range(1, 21)
            ]
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
    return codes.count(429)


def test_item8_forwarded_for_ignored_unless_from_a_trusted_proxy(tmp_path: Path) -> None:
    """`labelbay serve` with default settings: a client on loopback rotating X-Forwarded-For
    still has one budget; with LABELBAY_TRUSTED_PROXIES naming loopback, the header counts."""
    assert _refused_with_rotating_forwarded_for(tmp_path / "plain") == 15
    trusted = _refused_with_rotating_forwarded_for(
        tmp_path / "proxied", LABELBAY_TRUSTED_PROXIES='["127.0.0.1"]'
    )
    assert trusted == 0


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {
        "rate_limit_enabled": True,
        "rate_limit_per_user": "3/minute",
        "rate_limit_per_ip": "12/minute",
        "rate_limit_login_per_account": "5/minute",
    }


@EMBEDDED
def test_item8_requests_refused_per_user_leave_the_ip_budget(stack: Stack) -> None:
    greedy = stack.quick_user("greedy@example.com")
    codes = [stack.client.get("/api/v1/users/me", headers=greedy).status_code for _ in range(30)]
    assert codes.count(200) == 3
    assert codes.count(429) == 27
    polite = stack.quick_user("polite@example.com")
    answers = [stack.client.get("/api/v1/users/me", headers=polite) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text


@EMBEDDED
def test_item8_sign_in_throttled_per_account(stack: Stack) -> None:
    stack.user("target@example.com")  # signs in once: one success, not counted
    other = stack.quick_user("other@example.com")
    assert other  # a second account, whose sign-ins must stay open

    def sign_in(email: str, password: str) -> int:
        return stack.client.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        ).status_code

    wrong = [sign_in("target@example.com", f"guess-{n}") for n in range(5)]
    assert wrong == [401] * 5
    assert sign_in("target@example.com", "guess-6") == 429
    assert sign_in("TARGET@example.com", PASSWORD) == 429  # even the right one, until it passes
    assert sign_in("other@example.com", PASSWORD) == 200
