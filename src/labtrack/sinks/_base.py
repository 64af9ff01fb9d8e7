"""The sink interface: five methods, keyword arguments where meaning is not obvious."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class SinkRun:
    """The run a sink mirrors.

    ``resume_id`` is the backend's id returned by a previous :meth:`Sink.open` of the same run
    (a restarted tracker passes it so that the mirror continues the same backend run).
    """

    experiment: str
    name: str
    run_dir: Path
    resume_id: str | None = None


class Sink(ABC):
    """A mirror of one run. Calls come from one thread; a sink need not be thread-safe.

    ``open`` is called once before anything else and ``close`` once at the end. Any method may
    raise: callers that must not fail wrap the sink in :class:`~labtrack.sinks.GuardedSink`.
    """

    #: The name ``create_sink`` knows the sink by, and the ``log_to`` target it serves.
    name: ClassVar[str] = ""

    @abstractmethod
    def open(self, run: SinkRun) -> str | None:
        """Start (or resume) mirroring ``run``; returns the backend's run id, if it has one."""

    @abstractmethod
    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        """Record scalar values at ``step`` (``wall_time`` in epoch seconds, default now)."""

    def log_params(self, params: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Record flat parameters. Sinks without a notion of parameters ignore them."""

    def log_artifact(self, path: Path, *, name: str | None = None) -> None:  # noqa: B027
        """Copy a file into the backend. Sinks without artifact storage ignore it."""

    @abstractmethod
    def close(self) -> None:
        """Flush everything and release files and clients. Calling it twice is harmless."""
