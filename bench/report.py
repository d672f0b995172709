"""One table for every benchmark: each figure beside the reference measured in the same run."""

from __future__ import annotations

from dataclasses import dataclass


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


def print_table(rows: list[Row], title: str) -> None:
    print(f"\n{title}")
    header = f"{'figure':<46} {'value':>15}  {'reference':<40} {'ref value':>12} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        ref = f"{row.reference:,.2f}" if row.reference is not None else ""
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        print(
            f"{row.name:<46} {row.value:>10,.2f} {row.unit:<4} "
            f"{row.reference_name:<40} {ref:>12} {ratio:>7}  {row.goal}"
        )
