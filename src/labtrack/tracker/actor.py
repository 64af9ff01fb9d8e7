"""``TrackerActor``: a :class:`~labtrack.tracker.Tracker` inside a Ray actor.

The class body below is plain Python; :func:`actor_class` wraps it with ``ray.remote`` the first
time ``labtrack.TrackerActor`` is looked up, so Ray is imported only then. Default options:
``max_restarts=3`` (a crashed actor is restarted and re-opens the same run directory, continuing
from the step state saved after its last processing) and ``max_concurrency=1`` (calls run one at
a time; aggregation runs on the tracker's own background thread). Override them with
``TrackerActor.options(...)``.

Every method is a boundary: an exception raised by one call travels to the caller's
``ray.get`` as usual and leaves the actor alive for the next call. ``log_video`` goes further:
workers send videos without waiting (``TrackerClient.log_video``), so a video that cannot be
recorded is logged here, with its traceback, and the call returns False instead of raising.

trieye's methods are here under trieye's names too (``log_batch_events``, ``get_state`` /
``set_state``, ``get_actor_name``, ``get_config``, ``get_run_base_dir_str``,
``save_run_config``, ``close_tb_writer``), and ``process_and_log`` takes its
``current_global_step=`` keyword. :func:`actor_name` gives trieye-style actor names.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from ..errors import require
from ..sinks import Sink
from .config import TrackerConfig
from .schemas import LoadedTrainingState, RawMetricEvent
from .tracker import EventTuple, Tracker

log = logging.getLogger(__name__)


class TrackerActorBody:
    """The methods ``TrackerActor`` exposes (each called as ``actor.method.remote(...)``)."""

    def __init__(self, config: TrackerConfig, sinks: Sequence[Sink] | None = None) -> None:
        # capture_exit=False: Ray owns this process's signals and exit; shutdown() finishes the
        # run, and a killed actor's run reads as "crashed" until its restart resumes it.
        self._tracker = Tracker(config, sinks=sinks, capture_exit=False)

    def log_event(self, event: RawMetricEvent) -> None:
        self._tracker.log_event(event)

    def log_events(
        self, batch: Iterable[RawMetricEvent | EventTuple], *, step: int | None = None
    ) -> int:
        return self._tracker.log_events(batch, step=step)

    def log_batch_events(self, events: Iterable[RawMetricEvent]) -> int:
        return self._tracker.log_batch_events(events)

    def log_video(
        self,
        tag: str,
        video: Any,
        step: int | None = None,
        fps: float = 30.0,
        *,
        format: Literal["mp4", "gif"] = "mp4",
    ) -> bool:
        """:meth:`Tracker.log_video`; True when the video was recorded.

        Send an encoded file's bytes (``TrackerClient.log_video`` encodes on the worker), not
        frames: frames would cross Ray raw and be encoded on the actor's one call thread. A
        video that cannot be recorded (a bad tag, bytes that are not a ``format`` file) is
        logged with its traceback and costs only itself: False, never an exception.
        """
        try:
            self._tracker.log_video(tag, video, step, fps, format=format)
        except Exception:  # the boundary (see the module docstring)
            log.exception("log_video(%r): the video is not recorded", tag)
            return False
        return True

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

            # Outside Ray (the body used directly) asking the runtime context would start Ray.
            name = ray.get_runtime_context().get_actor_name() if ray.is_initialized() else None
        except Exception:  # outside an actor
            name = None
        return name or actor_name(self._tracker.config.run_name)

    def get_counts(self) -> Mapping[str, Any]:
        return self._tracker.get_counts()

    def latest_values(self) -> dict[str, float]:
        return self._tracker.latest_values()

    def get_pid(self) -> int:
        import os

        return os.getpid()

    def cpu_seconds(self) -> float:
        """CPU time this actor's process has used (every thread): what tracking costs the
        machine, for benchmarks (``bench/bench_rl.py``)."""
        import time

        return time.process_time()

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
    """``labtrack.TrackerActor``: ``TrackerActorBody`` as a Ray actor class (imports Ray),
    behind :class:`_ServingActorClass`."""
    ray: Any = require("ray", "ray", "TrackerActor")
    cls = type("TrackerActor", (TrackerActorBody,), {"__module__": __name__})
    cls.__qualname__ = "TrackerActor"
    return _ServingActorClass(ray.remote(max_restarts=3, max_concurrency=1)(cls))


class _ServingActorClass:
    """Ray's actor class, with two things done where the actor is created (the driver):

    * the config's ``ROOT_DATA_DIR`` is made absolute and served to the cluster
      (:func:`labtrack.serve_store`), so the actor records into this node's store from
      whichever node it runs on (``docs/cluster.md``);
    * without a ``scheduling_strategy`` or ``resources`` of the caller's, the actor is placed
      on this node (``NodeAffinitySchedulingStrategy(soft=True)``): its mirrors, checkpoints
      and buffers are then files on the store's disk, which a restarted actor reads back.

    Everything else (``options(...)``, ``remote(...)``, ``bind``) is Ray's.
    """

    def __init__(self, cls: Any, options: Mapping[str, Any] | None = None) -> None:
        self._cls = cls
        self._options = dict(options or {})

    def options(self, **options: Any) -> _ServingActorClass:
        return _ServingActorClass(self._cls, {**self._options, **options})

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not ray.is_initialized():
            ray.init()  # as Ray's own .remote() would
        options = dict(self._options)
        if "scheduling_strategy" not in options and "resources" not in options:
            here = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(here, soft=True)
        args, kwargs = _served_config(args, kwargs)
        cls = self._cls.options(**options) if options else self._cls
        return cls.remote(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)

    def __repr__(self) -> str:
        return f"<labtrack.TrackerActor, a Ray actor class {self._cls!r}>"


def _served_config(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The actor's arguments with its config's store made absolute and served."""
    from pathlib import Path

    from ..cluster import serve_store

    config = kwargs.get("config", args[0] if args else None)
    if not isinstance(config, TrackerConfig):
        return args, kwargs
    root = Path(config.persistence.ROOT_DATA_DIR).absolute()
    persistence = config.persistence.model_copy(update={"ROOT_DATA_DIR": str(root)})
    config = config.model_copy(update={"persistence": persistence})
    try:
        serve_store(root)
    except Exception:  # a boundary: the actor still records wherever it runs
        logging.getLogger("labtrack").exception("cannot serve %s to the Ray cluster", root)
    if "config" in kwargs:
        return args, {**kwargs, "config": config}
    return (config, *args[1:]), kwargs
