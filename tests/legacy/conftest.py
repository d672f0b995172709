"""The old contracts' tests run on the fixed models (see tests/support/fixed_model.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fixed_model import register_fixed_models
from tests.support.stack import Stack


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {"legacy_detect_model": "fixed-boxes", "legacy_circles_model": "fixed-circles"}


@pytest.fixture
def legacy(stack: Stack, tmp_path: Path) -> dict[str, str]:
    """Registers the fixed models, makes a project the legacy project; its owner's headers."""
    register_fixed_models(stack, tmp_path)
    headers = stack.user("legacy-owner@example.com")
    project = stack.project(headers, name="legacy")
    stack.context.settings.legacy_project_id = project["id"]
    return headers
