"""Limits on the free-form JSON a client may store (metadata, analysis parameters and data).

Stored JSON is read back on every page that shows its row, so its size is bounded here, in one type
every such request field uses, and so is its nesting depth: a document nested hundreds deep breaks
recursive encoders (Python's `json`, the database's) long before it is large.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_BYTES = 64 * 1024  # as compact JSON (UTF-8)
MAX_DEPTH = 16  # the object itself is depth 1


def depth_of(value: Any, *, stop_after: int = MAX_DEPTH) -> int:
    """How deeply `value` nests objects and arrays (a scalar is 0); counting stops just past
    `stop_after`. Iterative, so no input can exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_free_json(value: Any) -> Any:
    """`value` unchanged, or ValueError (a 422 from pydantic) when it nests too deep or is too big."""
    if depth_of(value) > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_BYTES:
        raise ValueError(f"is {size} bytes as JSON, over the limit of {MAX_BYTES}")
    return value


FreeJSON = Annotated[dict[str, Any], AfterValidator(check_free_json)]
