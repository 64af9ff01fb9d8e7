"""``TrackerActor``: a :class:`~labtrack.tracker.Tracker` inside a Ray actor.

The class body below is plain Python; :func:`actor_class` wraps it with ``ray.remote`` the first
time ``labtrack.TrackerActor`` is looked up, so Ray is imported only then. Default options:
``max_restarts=3`` (a crashed actor is restarted and re-opens the same run directory, continuing
from the step state saved after its last processing) and ``max_concurrency=1`` (calls run one at
a time; aggregation runs on the tracker's own background thread). Override them with
``TrackerActor.options(...)``.

Every method is a boundary: an exception raised by one call travels to the caller's
``ray.get`` as usual and leaves the actor alive for the next call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import require
from ..sinks import Sink
from .config import TrackerConfig
from .schemas import LoadedTrainingState, RawMetricEvent
from .tracker import EventTuple, Tracker


class TrackerActorBody:
    """The methods ``TrackerActor`` exposes (each called as ``actor.method.remote(...)``)."""

    def __init__(self, config: TrackerConfig, sinks: Sequence[Sink] | None = None) -> None:
        # capture_exit=False: Ray owns this process's signals and exit; shutdown() finishes the
        # run, and a killed actor's run reads as "crashed" until its restart resumes it.
        self._tracker = Tracker(config, sinks=sinks, capture_exit=False)

    def log_event(self, event: RawMetricEvent) -> None:
        self._tracker.log_event(event)

    def log_events(self, batch: Iterable[RawMetricEvent | EventTuple]) -> int:
        return self._tracker.log_events(batch)

    def process_and_log(self, step: int) -> None:
        self._tracker.process_and_log(step)

    def force_process_and_log(self, step: int) -> None:
        self._tracker.force_process_and_log(step)

    def save_training_state(self, **kwargs: Any) -> str:
        return self._tracker.save_training_state(**kwargs)

    def load_initial_state(self) -> LoadedTrainingState:
        return self._tracker.load_initial_state()

    def get_mlflow_run_id(self) -> str | None:
        return self._tracker.get_mlflow_run_id()

    def get_run_base_dir(self) -> str:
        return self._tracker.get_run_base_dir()

    def get_counts(self) -> Mapping[str, Any]:
        return self._tracker.get_counts()

    def latest_values(self) -> dict[str, float]:
        return self._tracker.latest_values()

    def get_pid(self) -> int:
        import os

        return os.getpid()

    def shutdown(self) -> None:
        self._tracker.shutdown()


@functools.cache
def actor_class() -> Any:
    """``TrackerActorBody`` as a Ray actor class (imports Ray)."""
    ray: Any = require("ray", "ray", "TrackerActor")
    cls = type("TrackerActor", (TrackerActorBody,), {"__module__": __name__})
    cls.__qualname__ = "TrackerActor"
    return ray.remote(max_restarts=3, max_concurrency=1)(cls)
