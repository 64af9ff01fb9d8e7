"""The in-process tracker: events in, aggregated points out to the labtrack store and mirrors.

``Tracker`` is what ``TrackerActor`` runs inside a Ray actor, and what a single-process training
loop uses directly::

    with Tracker(TrackerConfig(app_name="cartpole")) as tracker:
        state = tracker.load_initial_state()
        for step in range(1, 1001):
            tracker.log_event(RawMetricEvent(name="Loss/Total", value=loss, global_step=step))
            tracker.process_and_log(step)
        tracker.save_training_state(nn_state_dict=model.state_dict(), ..., global_step=step)

Threads: callers only append ``(name, value, step, context)`` tuples to a deque (thread-safe,
no lock). A background thread drains the deque into the :class:`Aggregator` and processes it
every ``processing_interval_seconds``; processing, sinks and the store writer run under one lock.
The deque is bounded: past ``max_pending`` events the caller drains it itself (backpressure,
never loss). Mirrors are wrapped in :class:`~labtrack.sinks.GuardedSink`, so a failing mirror is
reported and retried and never stops the tracker.

Restart: after every processing the aggregator's step state and the mirrors' run ids go to
``<run_dir>/.labtrack/tracker_state.json``; a tracker opened on the same run directory (a Ray
actor restarted after a crash) reads it and continues the same run. Events received but not yet
processed when the process died (at most one processing interval) are lost.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import SerializationError, require
from ..sinks import GuardedSink, Sink, SinkRun, create_sink
from .aggregation import Aggregator, Point
from .config import TrackerConfig
from .persistence import RunFiles, to_cpu
from .schemas import CheckpointData, LoadedTrainingState, RawMetricEvent

log = logging.getLogger(__name__)

EventTuple = (
    tuple[str, float, int, "Mapping[str, Any] | None"]
    | tuple[str, float, int, "Mapping[str, Any] | None", float]  # + the event's timestamp
)
_MIRROR_MODULE = {
    "mlflow": "mlflow",
    "tensorboard": "tensorboardX",
    "console": "rich",
    "aim": "aim",
}


class Tracker:
    """Aggregates raw events by the rules of ``config`` and logs the results.

    Args:
        config: names, persistence and statistics rules (default ``TrackerConfig()``).
        sinks: mirrors to use instead of those named by ``config`` (e.g. a ``MemorySink``).
        max_pending: events buffered before the caller drains them itself.
        capture_exit: let the labtrack run set its status on interpreter exit and SIGTERM.
    """

    def __init__(
        self,
        config: TrackerConfig | None = None,
        *,
        sinks: Sequence[Sink] | None = None,
        max_pending: int = 1_000_000,
        capture_exit: bool = True,
    ) -> None:
        from .._run import start_run

        self.config = config if config is not None else TrackerConfig()
        if not isinstance(self.config, TrackerConfig):
            raise TypeError(f"config must be a TrackerConfig, got {type(config).__name__}")
        self.files = RunFiles(self.config)
        # Missing packages of explicitly named mirrors fail here, before the run is created.
        chosen = (
            list(sinks) if sinks is not None else [self._make_sink(n) for n in self._mirror_names()]
        )
        self.files.remove_stale_temporaries()
        self._agg = Aggregator(self.config.stats)
        saved = self.files.load_tracker_state() or {}
        if saved:
            self._agg.load_state_dict(saved.get("aggregator", {}))
            log.info(
                "continuing run %s at step %d", self.files.run_dir, self._agg.last_processed_step
            )
        self.run = start_run(
            self.config.app_name,
            name=self.config.run_name,
            config=self.config.model_dump(mode="json"),
            run_dir=self.files.run_dir,
            capture_exit=capture_exit,
        )
        self._pending: deque[EventTuple] = deque()
        self._max_pending = max_pending
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._requested_step = self._agg.last_processed_step
        # Mirrors open on the background thread (importing MLflow and opening its run take
        # seconds): a new tracker, or actor, answers at once; their calls are queued meanwhile.
        self._sinks = {s.name: s for s in (_guarded(sink) for sink in chosen)}
        self._resume_ids: Mapping[str, str] = saved.get("sink_ids", {})
        self._mirrors_open = threading.Event()
        self.files.save_configs({"tracker": self.config.model_dump(mode="json")})
        params = _flat_params(self.config)
        for sink in self._sinks.values():
            sink.log_params(params)
        self._thread = threading.Thread(target=self._loop, name="labtrack-tracker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ events (hot path)

    def log_event(self, event: RawMetricEvent) -> None:
        """Queue one event (microseconds; aggregation happens on the background thread)."""
        if event.__class__ is not RawMetricEvent:
            raise TypeError(f"log_event() takes a RawMetricEvent, got {type(event).__name__}")
        if event.timestamp is None:
            self._pending.append((event.name, event.value, event.global_step, event.context))
        else:
            self._pending.append(
                (event.name, event.value, event.global_step, event.context, event.timestamp)
            )
        if len(self._pending) >= self._max_pending:
            self._drain()

    def log_events(self, batch: Iterable[RawMetricEvent | EventTuple]) -> int:
        """Queue many events: ``RawMetricEvent`` objects or ``(name, value, step, context)``
        tuples as the batching client sends them. Returns how many were queued."""
        items = [_as_tuple(e) if isinstance(e, RawMetricEvent) else e for e in batch]
        self._pending.extend(items)
        if len(self._pending) >= self._max_pending:
            self._drain()
        return len(items)

    def log_batch_events(self, events: Iterable[RawMetricEvent]) -> int:
        """trieye's name for :meth:`log_events`."""
        return self.log_events(events)

    def process_and_log(
        self, current_global_step: int | None = None, *, step: int | None = None
    ) -> None:
        """Note that training reached ``current_global_step`` (trieye's keyword; ``step=``
        also works); metrics due are logged on the next processing."""
        at = _step_arg(current_global_step, step)
        self._requested_step = max(self._requested_step, at)

    def force_process_and_log(
        self, current_global_step: int | None = None, *, step: int | None = None
    ) -> None:
        """Aggregate and log everything pending now, at ``current_global_step`` (or ``step=``);
        on disk when it returns."""
        self.process_and_log(_step_arg(current_global_step, step))
        self._open_mirrors()
        self._process(force=True)
        with self._lock:
            self.run.flush()
            for sink in self._sinks.values():
                sink.flush()

    # ------------------------------------------------------------------ processing

    def _drain(self) -> None:
        pending = self._pending
        n = len(pending)
        if not n:
            return
        batch = [pending.popleft() for _ in range(n)]
        with self._lock:
            self._agg.add_many(batch)

    def _process(self, *, force: bool = False) -> list[Point]:
        self._drain()
        with self._lock:
            points = self._agg.process(self._requested_step, force=force)
            if points:
                self._write(points)
            self.files.save_tracker_state(self._state())
            return points

    def _write(self, points: list[Point]) -> None:
        by_x: dict[int, dict[str, float]] = {}
        for p in points:
            by_x.setdefault(p.x, {})[p.name] = p.value
        for x, values in by_x.items():
            self.run.log(values, step=x)
        now = time.time()
        for name, sink in self._sinks.items():
            routed: dict[int, dict[str, float]] = {}
            for p in points:
                if name in p.log_to:
                    routed.setdefault(p.x, {})[p.name] = p.value
            for x, values in routed.items():
                sink.log_metrics(values, step=x, wall_time=now)
        counts = self._agg.counts
        for key, value in counts.items():
            self.run.summary[f"tracker_events_{key}"] = value

    def _open_mirrors(self) -> None:
        """Open every mirror (once; later calls return at once)."""
        if self._mirrors_open.is_set():
            return
        with self._lock:
            if not self._mirrors_open.is_set():
                self._open_sinks(list(self._sinks.values()), self._resume_ids)
                self._mirrors_open.set()

    def _loop(self) -> None:
        try:
            self._open_mirrors()
        except Exception:  # the one boundary (GuardedSink already keeps failures to itself)
            log.exception("tracker: opening the mirrors failed")
        interval = self.config.stats.processing_interval_seconds
        next_process = time.monotonic() + interval
        while not self._stop.is_set():
            self._wake.wait(min(0.05, interval))
            self._wake.clear()
            try:
                if time.monotonic() >= next_process:
                    next_process = time.monotonic() + interval
                    self._process()
                else:
                    self._drain()
            except Exception:  # the one boundary: a tracker bug must not kill training
                log.exception("tracker: processing failed; will retry next interval")

    def _state(self) -> dict[str, Any]:
        ids = {n: s.backend_id for n, s in self._sinks.items() if s.backend_id}
        return {"aggregator": self._agg.state_dict(), "sink_ids": ids}

    # ------------------------------------------------------------------ sinks

    def _open_sinks(
        self, chosen: Sequence[Sink], resume_ids: Mapping[str, str]
    ) -> dict[str, GuardedSink]:
        run = SinkRun(self.config.app_name, self.config.run_name, self.files.run_dir)
        opened: dict[str, GuardedSink] = {}
        for sink in chosen:
            guarded = sink if isinstance(sink, GuardedSink) else GuardedSink(sink)
            resume = resume_ids.get(guarded.name)
            guarded.open(SinkRun(run.experiment, run.name, run.run_dir, resume_id=resume))
            opened[guarded.name] = guarded
        return opened

    def _mirror_names(self) -> list[str]:
        if self.config.mirrors is not None:
            for name in self.config.mirrors:
                require(
                    _MIRROR_MODULE[name], name if name != "console" else "ray", f"The {name} mirror"
                )
            return [str(n) for n in dict.fromkeys(self.config.mirrors)]
        wanted = dict.fromkeys(t for m in self.config.stats.metrics for t in m.log_to)
        names: list[str] = []
        for name in wanted:
            if importlib.util.find_spec(_MIRROR_MODULE[name]) is None:
                log.info("mirror %r skipped: %s is not installed", name, _MIRROR_MODULE[name])
            else:
                names.append(name)
        return names

    def _make_sink(self, name: str) -> Sink:
        p = self.config.persistence
        if name == "mlflow":
            return create_sink(
                "mlflow",
                tracking_uri=p.MLFLOW_TRACKING_URI,
                artifact_location=p.mlflow_artifact_location,
            )
        if name == "tensorboard":
            return create_sink("tensorboard", log_dir=self.files.tensorboard)
        if name == "aim":
            return create_sink("aim", repo_path=Path(p.ROOT_DATA_DIR, p.AIM_REPO_DIR_NAME))
        return create_sink("console", interval_seconds=self.config.console_interval_seconds)

    # ------------------------------------------------------------------ training state

    def save_training_state(
        self,
        *,
        nn_state_dict: Mapping[str, Any],
        optimizer_state_dict: Mapping[str, Any],
        buffer_content: Sequence[Any] | None = None,
        global_step: int,
        episodes_played: int = 0,
        total_simulations_run: int = 0,
        save_buffer: bool = False,
        model_config_dict: Mapping[str, Any] | None = None,
        env_config_dict: Mapping[str, Any] | None = None,
        user_data: Mapping[str, Any] | None = None,
        is_best: bool = False,
    ) -> str:
        """Write a checkpoint (step-numbered + latest, + best if ``is_best``), the buffer when
        ``save_buffer``, and the configs as JSON. Returns the latest checkpoint's path.

        Raises :class:`~labtrack.errors.SerializationError` when the state cannot be pickled or
        written; a previous checkpoint is never damaged.
        """
        with self._lock:
            actor_state = {"aggregator": self._agg.state_dict()}
        try:
            ckpt = CheckpointData(
                run_name=self.config.run_name,
                global_step=global_step,
                episodes_played=episodes_played,
                total_simulations_run=total_simulations_run,
                model_state_dict=to_cpu(dict(nn_state_dict)),
                optimizer_state_dict=to_cpu(dict(optimizer_state_dict)),
                actor_state=actor_state,
                user_data=dict(user_data or {}),
                model_config_dict=dict(model_config_dict or {}),
                env_config_dict=dict(env_config_dict or {}),
            )
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"save_training_state: {exc}") from exc
        latest = self.files.save_checkpoint(ckpt, is_best=is_best)
        buffer_path = None
        if save_buffer and self.config.persistence.SAVE_BUFFER:
            buffer_path = self.files.save_buffer(
                to_cpu(list(buffer_content or [])), step=global_step
            )
        configs = self.files.save_configs(
            {
                "tracker": self.config.model_dump(mode="json"),
                "model": ckpt.model_config_dict,
                "env": ckpt.env_config_dict,
            }
        )
        with self._lock:
            meta = {"global_step": global_step, "is_best": is_best}
            self.run.log_artifact(latest, "checkpoint_latest", "checkpoint", meta, global_step)
            if buffer_path is not None:
                self.run.log_artifact(buffer_path, "buffer", "data", meta, global_step)
            for sink in self._sinks.values():
                sink.log_artifact(latest, name="checkpoints")
                sink.log_artifact(configs, name="configs")
        return str(latest)

    def load_initial_state(self) -> LoadedTrainingState:
        """The state to resume from (see :class:`PersistenceConfig`); empty if there is none.

        Also restores the tracker's own step state from the checkpoint.
        """
        found = self.files.load_latest_checkpoint()
        if found is None:
            buffer = self._load_buffer(None)
            return LoadedTrainingState(
                buffer_data=buffer[0] if buffer else None,
                buffer_path=str(buffer[1]) if buffer else None,
            )
        ckpt, path = found
        with self._lock:
            state = dict(ckpt.actor_state.get("aggregator", {}))
            state.pop("counts", None)  # event counts describe this run, not the resumed one
            self._agg.load_state_dict(state)
            # The checkpoint's step, even when this run's step state had gone further: what
            # is logged next belongs to the resumed steps.
            self._requested_step = ckpt.global_step
        buffer = self._load_buffer(path.parent.parent)
        log.info("resuming from %s (step %d)", path, ckpt.global_step)
        return LoadedTrainingState(
            checkpoint_data=ckpt,
            checkpoint_path=str(path),
            buffer_data=buffer[0] if buffer else None,
            buffer_path=str(buffer[1]) if buffer else None,
        )

    def _load_buffer(self, run_dir: Path | None) -> Any:
        try:
            return self.files.load_buffer(run_dir)
        except SerializationError:
            if self.config.persistence.LOAD_BUFFER_PATH:
                raise
            log.warning("buffer not loaded", exc_info=True)
            return None

    # ------------------------------------------------------------------ information

    def get_mlflow_run_id(self) -> str | None:
        """The MLflow run id, or None when there is no MLflow mirror, or it has not opened yet
        (mirrors open in the background; ``force_process_and_log`` waits for them)."""
        sink = self._sinks.get("mlflow")
        return sink.backend_id if sink is not None else None

    def get_run_base_dir(self) -> str:
        """The run directory (a labtrack run): ``<ROOT_DATA_DIR>/<app>/runs/<run_name>``."""
        return str(self.files.run_dir)

    def get_run_base_dir_str(self) -> str:
        """trieye's name for :meth:`get_run_base_dir`."""
        return self.get_run_base_dir()

    def get_config(self) -> TrackerConfig:
        """A copy of this tracker's configuration."""
        return self.config.model_copy(deep=True)

    def save_run_config(self, configs: Mapping[str, Any]) -> str:
        """Write ``configs`` (with this tracker's own under ``tracker``) as ``configs.json``
        and mirror it; returns the file's path."""
        path = self.files.save_configs(
            {"tracker": self.config.model_dump(mode="json"), **dict(configs)}
        )
        with self._lock:
            for sink in self._sinks.values():
                sink.log_artifact(path, name="configs")
        return str(path)

    def get_state(self) -> dict[str, Any]:
        """The step state a checkpoint carries (``CheckpointData.actor_state``)."""
        self._drain()
        with self._lock:
            return {"aggregator": self._agg.state_dict()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`get_state` (as ``load_initial_state`` does)."""
        with self._lock:
            agg = dict(state.get("aggregator", state))
            agg.pop("counts", None)
            self._agg.load_state_dict(agg)
            self._requested_step = max(self._requested_step, self._agg.last_processed_step)

    def close_tb_writer(self) -> None:
        """Flush and close the TensorBoard mirror (trieye's call; the rest keep running)."""
        self._open_mirrors()
        with self._lock:
            sink = self._sinks.pop("tensorboard", None)
            if sink is not None:
                sink.flush()
                sink.close()

    def get_counts(self) -> dict[str, Any]:
        """Event counters (received, nonfinite, unknown, ...) and the step state."""
        self._drain()
        with self._lock:
            return {
                **self._agg.counts,
                "pending": len(self._pending),
                "last_processed_step": self._agg.last_processed_step,
                "episodes": self._agg.episodes,
                "unknown_names": sorted(self._agg.unknown_names),
            }

    def latest_values(self) -> dict[str, float]:
        """The last aggregated value of every metric (also those never logged)."""
        with self._lock:
            return dict(self._agg.latest_values)

    # ------------------------------------------------------------------ lifecycle

    def shutdown(self) -> None:
        """Process what is pending, close the mirrors and finish the run. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        try:
            self._open_mirrors()
            self._process(force=True)
        finally:
            with self._lock:
                for sink in self._sinks.values():
                    sink.close()
                self.run.finish("completed")

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


def _guarded(sink: Sink) -> GuardedSink:
    return sink if isinstance(sink, GuardedSink) else GuardedSink(sink)


def _as_tuple(e: RawMetricEvent) -> EventTuple:
    if e.timestamp is None:
        return (e.name, e.value, e.global_step, e.context)
    return (e.name, e.value, e.global_step, e.context, e.timestamp)


def _step_arg(current_global_step: int | None, step: int | None) -> int:
    if current_global_step is None and step is None:
        raise TypeError("process_and_log() needs the step: current_global_step=N (or step=N)")
    if current_global_step is not None and step is not None and current_global_step != step:
        raise TypeError("give current_global_step or step, not both")
    return int(current_global_step if current_global_step is not None else step)  # type: ignore[arg-type]


def _flat_params(config: TrackerConfig) -> dict[str, Any]:
    params: dict[str, Any] = {"app_name": config.app_name, "run_name": config.run_name}
    for key, value in config.persistence.model_dump(mode="json").items():
        params[f"persistence.{key}"] = value
    params["stats.processing_interval_seconds"] = config.stats.processing_interval_seconds
    params["stats.metrics"] = ",".join(m.name for m in config.stats.metrics)
    return params
