"""Fixtures shared by the API tests (the stacks themselves come from tests/support/stack.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of this test's own: the server (in this process) spools uploads into
    `tempfile.gettempdir()`, so a leak check here sees only this test's files, not those of
    other processes sharing /tmp."""
    path = tmp_path / "spool"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path
