"""An in-memory sink: records every call, for tests and for inspecting what a tracker sends."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._base import Sink, SinkRun


class MemorySink(Sink):
    """Keeps everything in lists and dicts.

    ::

        sink = MemorySink()
        sink.open(SinkRun("app", "run", Path(".")))
        sink.log_metrics({"loss": 1.0}, step=3)
        sink.series("loss")   # [(3, 1.0)]
    """

    name = "memory"

    def __init__(self) -> None:
        self.run: SinkRun | None = None
        self.metrics: list[tuple[str, float, int, float]] = []  # (key, value, step, wall_time)
        self.params: dict[str, Any] = {}
        self.artifacts: list[tuple[Path, str | None]] = []
        self.closed = False

    def open(self, run: SinkRun) -> str | None:
        self.run = run
        self.closed = False
        return run.resume_id or f"memory-{run.name}"

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        t = time.time() if wall_time is None else wall_time
        self.metrics.extend((k, float(v), step, t) for k, v in metrics.items())

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def log_artifact(self, path: Path, *, name: str | None = None) -> None:
        self.artifacts.append((Path(path), name))

    def close(self) -> None:
        self.closed = True

    def series(self, key: str) -> list[tuple[int, float]]:
        """``(step, value)`` pairs logged under ``key``, in order."""
        return [(step, value) for k, value, step, _ in self.metrics if k == key]
