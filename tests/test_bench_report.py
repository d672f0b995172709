"""`python -m bench --check`: which figures count as a missed goal (no timing measured here)."""

from __future__ import annotations

import pytest

from bench.report import NOISE_MARGIN, Row, miss


@pytest.mark.parametrize(
    ("row", "missed"),
    [
        (Row("ratio met", 0.9, "i/s", "raw", 1.0, ">= 0.9x"), False),
        (Row("ratio in the noise", 0.82, "i/s", "raw", 1.0, ">= 0.9x"), False),
        (Row("ratio missed", 0.80, "i/s", "raw", 1.0, ">= 0.9x"), True),
        (Row("memory met", 290, "MiB", goal="< 300 MiB"), False),
        (Row("memory in the noise", 325, "MiB", goal="< 300 MiB"), False),
        (Row("memory missed", 340, "MiB", goal="< 300 MiB"), True),
        (Row("latency missed", 56, "ms", goal="p95 < 50 ms"), True),
        (Row("seconds goal, figure in ms", 1050, "ms", goal="< 1 s"), False),
        (Row("seconds goal missed", 1200, "ms", goal="< 1 s"), True),
        (Row("stage timings add up", 0.0, "ms", goal=">= 0 ms"), False),
        (Row("stage timings exceed the wall time", -0.01, "ms", goal=">= 0 ms"), True),
        (Row("no goal", -5, "ms"), False),
    ],
    ids=lambda v: v.name if isinstance(v, Row) else str(v),
)
def test_a_figure_misses_its_goal_beyond_the_noise_margin(row: Row, missed: bool) -> None:
    assert NOISE_MARGIN == 0.10
    assert (miss(row) is not None) == missed


@pytest.mark.parametrize(
    "row",
    [
        Row("free text", 1, "ms", goal="fast enough"),
        Row("ratio without reference", 1, "i/s", goal=">= 2x"),
        Row("unit mismatch", 1, "MiB", goal="< 1 s"),
    ],
    ids=lambda r: r.name,
)
def test_a_goal_that_cannot_be_checked_is_an_error(row: Row) -> None:
    with pytest.raises(ValueError, match=row.name):
        miss(row)
