"""``TrackerActor``: a :class:`~labtrack.tracker.Tracker` inside a Ray actor.

The class body below is plain Python; :func:`actor_class` wraps it with ``ray.remote`` the first
time ``labtrack.TrackerActor`` is looked up, so Ray is imported only then. Default options:
``max_restarts=3`` (a crashed actor is restarted and re-opens the same run directory, continuing
from the step state saved after its last processing) and ``max_concurrency=1`` (calls run one at
a time; aggregation runs on the tracker's own background thread). Override them with
``TrackerActor.options(...)``.

Every method is a boundary: an exception raised by one call travels to the caller's
``ray.get`` as usual and leaves the actor alive for the next call.

trieye's methods are here under trieye's names too (``log_batch_events``, ``get_state`` /
``set_state``, ``get_actor_name``, ``get_config``, ``get_run_base_dir_str``,
``save_run_config``, ``close_tb_writer``), and ``process_and_log`` takes its
``current_global_step=`` keyword. :func:`actor_name` gives trieye-style actor names.
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

    def log_batch_events(self, events: Iterable[RawMetricEvent]) -> int:
        return self._tracker.log_batch_events(events)

    def process_and_log(
        self, current_global_step: int | None = None, *, step: int | None = None
    ) -> None:
        self._tracker.process_and_log(current_global_step, step=step)

    def force_process_and_log(
        self, current_global_step: int | None = None, *, step: int | None = None
    ) -> None:
        self._tracker.force_process_and_log(current_global_step, step=step)

    def save_training_state(self, **kwargs: Any) -> str:
        return self._tracker.save_training_state(**kwargs)

    def load_initial_state(self) -> LoadedTrainingState:
        return self._tracker.load_initial_state()

    def get_mlflow_run_id(self) -> str | None:
        return self._tracker.get_mlflow_run_id()

    def get_run_base_dir(self) -> str:
        return self._tracker.get_run_base_dir()

    def get_run_base_dir_str(self) -> str:
        return self._tracker.get_run_base_dir_str()

    def get_config(self) -> TrackerConfig:
        return self._tracker.get_config()

    def save_run_config(self, configs: Mapping[str, Any]) -> str:
        return self._tracker.save_run_config(configs)

    def get_state(self) -> dict[str, Any]:
        return self._tracker.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        self._tracker.set_state(state)

    def close_tb_writer(self) -> None:
        self._tracker.close_tb_writer()

    def get_actor_name(self) -> str:
        """The name Ray knows this actor by, else the trieye-style name of its run."""
        try:
            import ray

            name = ray.get_runtime_context().get_actor_name()
        except Exception:  # outside an actor (the body used directly)
            name = None
        return name or actor_name(self._tracker.config.run_name)

    def get_counts(self) -> Mapping[str, Any]:
        return self._tracker.get_counts()

    def latest_values(self) -> dict[str, float]:
        return self._tracker.latest_values()

    def get_pid(self) -> int:
        import os

        return os.getpid()

    def shutdown(self) -> None:
        self._tracker.shutdown()


def actor_name(run_name: str) -> str:
    """trieye's actor name for a run: ``"trieye_actor_<run_name>"``.

    >>> actor_name("run_1")
    'trieye_actor_run_1'
    """
    return f"trieye_actor_{run_name}"


@functools.cache
def actor_class() -> Any:
    """``TrackerActorBody`` as a Ray actor class (imports Ray)."""
    ray: Any = require("ray", "ray", "TrackerActor")
    cls = type("TrackerActor", (TrackerActorBody,), {"__module__": __name__})
    cls.__qualname__ = "TrackerActor"
    return ray.remote(max_restarts=3, max_concurrency=1)(cls)
