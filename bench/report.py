"""One table for every benchmark: each figure beside the reference measured in the same run, and
the check of each figure against its goal (`python -m bench --check`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A figure may miss its goal by this share of the goal before `--check` fails: run-to-run noise of
# these benchmarks on a shared 2-core machine stays within it (PERF_NOTES.md); a real regression
# is larger.
NOISE_MARGIN = 0.10

# A bound and its unit: `x` is a ratio to the row's reference; no unit, a plain count.
_GOAL = re.compile(r"(?:p95\s+)?(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(x|ms|s|MiB|i/s)?")


@dataclass(frozen=True)
class Row:
    name: str
    value: float
    unit: str
    reference_name: str = ""
    reference: float | None = None
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference


def miss(row: Row, margin: float = NOISE_MARGIN) -> str | None:
    """Why the row misses its goal by more than `margin` of the goal; None when it meets it (or
    has no goal). A goal this cannot read is an error in the benchmark, not a pass."""
    if not row.goal:
        return None
    match = _GOAL.fullmatch(row.goal.strip())
    if match is None:
        raise ValueError(f"{row.name}: cannot check the goal {row.goal!r}")
    op, number, unit = match.groups()
    bound = float(number)
    if unit == "x":
        measured = row.ratio
        if measured is None:
            raise ValueError(f"{row.name}: a ratio goal needs a reference")
        shown = f"{measured:.2f}x"
    else:
        unit = unit or ""
        scale = {("s", "ms"): 1000.0}.get((unit, row.unit), 1.0)
        if scale == 1.0 and unit != row.unit:
            raise ValueError(f"{row.name}: goal in {unit}, figure in {row.unit}")
        bound *= scale
        measured = row.value
        shown = f"{measured:,.2f} {row.unit}"
    slack = abs(bound) * margin
    met = measured >= bound - slack if op in (">=", ">") else measured <= bound + slack
    if met:
        return None
    return f"{row.name}: {shown}, goal {row.goal} (noise margin {margin:.0%})"


def print_table(rows: list[Row], title: str) -> None:
    print(f"\n{title}")
    header = f"{'figure':<46} {'value':>15}  {'reference':<40} {'ref value':>12} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        ref = f"{row.reference:,.2f}" if row.reference is not None else ""
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        verdict = "" if not row.goal else ("  MISSED" if miss(row) else "  met")
        print(
            f"{row.name:<46} {row.value:>10,.2f} {row.unit:<4} "
            f"{row.reference_name:<40} {ref:>12} {ratio:>7}  {row.goal}{verdict}"
        )
