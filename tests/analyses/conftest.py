from __future__ import annotations

from typing import Any

import pytest

from tests.analyses.support import SETTINGS, Pipeline, new_image
from tests.support.stack import Stack


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return dict(SETTINGS)


@pytest.fixture
def owner(stack: Stack) -> dict[str, str]:
    return stack.user("owner@example.com")


@pytest.fixture
def image_id(stack: Stack, owner: dict[str, str]) -> str:
    return new_image(stack, owner)


@pytest.fixture
def pipeline(stack: Stack) -> Pipeline:
    return Pipeline(stack)
