"""Console mirror: one compact line at most every ``interval_seconds``, printed with rich."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._base import Sink, SinkRun


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class ConsoleSink(Sink):
    """Prints ``<run> step N │ key value │ ...`` with the latest value of each metric.

    Args:
        interval_seconds: least time between two lines (0: a line per ``log_metrics`` call).
        file: where to print (default standard error, so it stays out of piped output).
    """

    name = "console"

    def __init__(self, *, interval_seconds: float = 10.0, file: Any = None) -> None:
        self.interval_seconds = interval_seconds
        self.file = file
        self._console: Any = None
        self._label = ""
        self._latest: dict[str, float] = {}
        self._step = 0
        self._last_print = -float("inf")
        self._dirty = False

    def open(self, run: SinkRun) -> str | None:
        from rich.console import Console

        self._console = Console(file=self.file, stderr=self.file is None, highlight=False)
        self._label = f"{run.experiment}/{run.name}"
        return None

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        self._latest.update(metrics)
        self._step = max(self._step, step)
        self._dirty = True
        now = time.monotonic()
        if now - self._last_print >= self.interval_seconds:
            self._print()
            self._last_print = now

    def line(self) -> str:
        """The line that would be printed now."""
        parts = [f"{k} {_fmt(v)}" for k, v in sorted(self._latest.items())]
        return " │ ".join([f"{self._label} step {self._step}", *parts])

    def _print(self) -> None:
        if self._console is not None and self._dirty:
            self._console.print(self.line(), markup=False, soft_wrap=True)
            self._dirty = False

    def close(self) -> None:
        self._print()
        self._console = None
