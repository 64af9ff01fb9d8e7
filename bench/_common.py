"""Small helpers shared by the benchmark scripts: timing, medians, tables, disk sizes.

Nothing here imports labtrack or any tracking library, so a benchmark can import it first.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Result:
    """Repeated measurements of one tool on one workload, in the unit shown to readers."""

    workload: str
    tool: str
    unit: str
    samples: list[float]
    higher_is_better: bool = False
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> str:
        if len(self.samples) < 2:
            return "(1 run)"
        return f"{fmt(min(self.samples))}-{fmt(max(self.samples))}"

    def vs(self, reference: Result | None) -> str:
        """How many times worse than ``reference`` (labtrack) this result is."""
        if reference is None or reference is self or not self.samples or self.tool == "list.append":
            return ""
        mine, ref = self.median, reference.median
        if mine <= 0 or ref <= 0:
            return ""
        ratio = ref / mine if self.higher_is_better else mine / ref
        return f"{ratio:,.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


def fmt(x: float) -> str:
    """A number with a few significant digits and thousands separators."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tree_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with columns padded so it also reads well as plain text."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])
