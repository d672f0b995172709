"""The ML settings under their old and new names, and the signing pieces on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from labelbay.analyses.signing import (
    MemoryReplayGuard,
    ReplayedSignature,
    SignatureError,
    SqlReplayGuard,
    sign,
    verify,
)
from labelbay.analyses.transfers import InvalidTransfer, read_transfer_token, transfer_token
from labelbay.config import Settings
from labelbay.db.session import make_engine, make_sessionmaker, transaction


@pytest.mark.parametrize("prefix", ["", "LABELBAY_"])
def test_settings_read_old_and_prefixed_names(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setenv(f"{prefix}ML_ANALYSIS_ENABLED", "true")
    monkeypatch.setenv(f"{prefix}ML_CALLBACK_HMAC_SECRET", "s3cret")
    monkeypatch.setenv(f"{prefix}ML_ALLOWED_MODELS", "yolo_v8, resnet50_classifier,")
    monkeypatch.setenv(f"{prefix}ML_SIGNATURE_WINDOW_SECONDS", "60")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.ml_analysis_enabled is True
    assert settings.ml_callback_hmac_secret is not None
    assert settings.ml_callback_hmac_secret.get_secret_value() == "s3cret"
    assert settings.ml_allowed_models == ["yolo_v8", "resnet50_classifier"]
    assert settings.ml_signature_window_seconds == 60
    view = settings.public_view()
    assert "ml_callback_hmac_secret" not in view
    assert "s3cret" not in repr(view)
    assert view["ml_allowed_models"] == ["yolo_v8", "resnet50_classifier"]


def test_prefixed_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_ALLOWED_MODELS", "old")
    monkeypatch.setenv("LABELBAY_ML_ALLOWED_MODELS", "new")
    assert Settings(_env_file=None).ml_allowed_models == ["new"]  # type: ignore[call-arg]


def test_enabled_without_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="ML_CALLBACK_HMAC_SECRET must be set"):
        Settings(_env_file=None, ml_analysis_enabled=True)  # type: ignore[call-arg]
    assert Settings(_env_file=None).ml_analysis_enabled is False  # type: ignore[call-arg]


NOW = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=300)


def _verify(
    guard: MemoryReplayGuard, *, ts: int, body: bytes = b"{}", sig: str | None = None
) -> None:
    signature = sig or sign("k", timestamp=ts, method="POST", path="/p", body=body)
    verify(
        secret="k",
        signature=signature,
        timestamp=str(ts),
        method="post",
        path="/p",
        body=body,
        window=WINDOW,
        guard=guard,
        now=NOW,
    )


def test_verify_window_edges_and_replay() -> None:
    guard = MemoryReplayGuard()
    now = int(NOW.timestamp())
    _verify(guard, ts=now - 300)
    _verify(guard, ts=now + 300)
    with pytest.raises(SignatureError, match="outside the allowed window"):
        _verify(guard, ts=now - 301)
    with pytest.raises(ReplayedSignature):
        _verify(guard, ts=now - 300)
    with pytest.raises(SignatureError, match="does not match"):
        _verify(guard, ts=now, sig="A" * 64)
    # Uppercase hex is not the documented form, and is refused.
    upper = sign("k", timestamp=now, method="POST", path="/p", body=b"x").upper()
    with pytest.raises(SignatureError, match="does not match"):
        _verify(guard, ts=now, body=b"x", sig=upper)


def test_sql_replay_guard_prunes_old_rows(tmp_path: object) -> None:
    from labelbay.db.migrate import upgrade
    from labelbay.db.models import SignatureNonce

    url = f"sqlite:///{tmp_path}/guard.db"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        with transaction(sessions) as session:
            assert SqlReplayGuard(session).claim("a" * 64, now=NOW, window=WINDOW)
        with transaction(sessions) as session:
            later = NOW + 2 * WINDOW + timedelta(seconds=1)
            assert SqlReplayGuard(session).claim("b" * 64, now=later, window=WINDOW)
            assert {n.signature for n in session.query(SignatureNonce)} == {"b" * 64}
        with sessions() as session:
            assert not SqlReplayGuard(session).claim("b" * 64, now=NOW, window=WINDOW)
    finally:
        engine.dispose()


KEY = "a-transfer-secret-of-at-least-32-bytes"
OTHER = "another-secret-of-at-least-32-bytes!!"


def test_transfer_tokens() -> None:
    token = transfer_token(
        secret=KEY,
        key="ml_outputs/x/h.png",
        method="PUT",
        expires_in=timedelta(minutes=1),
        max_bytes=10,
        content_type="image/png",
    )
    grant = read_transfer_token(token, secret=KEY, method="PUT")
    assert (grant.key, grant.max_bytes, grant.content_type) == (
        "ml_outputs/x/h.png",
        10,
        "image/png",
    )
    with pytest.raises(InvalidTransfer, match="does not allow GET"):
        read_transfer_token(token, secret=KEY, method="GET")
    with pytest.raises(InvalidTransfer, match="not valid"):
        read_transfer_token(token, secret=OTHER, method="PUT")
    expired = transfer_token(
        secret=KEY,
        key="k",
        method="GET",
        expires_in=timedelta(seconds=1),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    with pytest.raises(InvalidTransfer, match="expired"):
        read_transfer_token(expired, secret=KEY, method="GET")
