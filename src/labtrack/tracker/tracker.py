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
every ``processing_interval_seconds``, and sleeps in between; processing and the store writer
run under one lock. The deque is bounded: past ``max_pending`` events the caller drains it
itself (backpressure, never loss).

Steps: ``process_and_log(N)`` says training finished step N, and the background processing
logs at the last such N. Events of a later step (its ``process_and_log`` call not yet arrived:
Ray delivers an actor's calls one by one) wait for it, one to two processing intervals at
most, so they are logged at their own step and not in the point before; ``force_process_and_log`` and
``shutdown`` take every event at once, and so does ``get_counts`` (to count it).

Mirrors are wrapped in :class:`~labtrack.sinks.GuardedSink`, so a failing mirror is reported and
retried and never stops the tracker. They open one after another on a thread of their own
(quick ones first), because importing MLflow and creating its tables take seconds (over a minute
on a loaded machine): meanwhile the tracker answers and processes as usual, the labtrack run gets every point at once (it is the source of
truth), and the mirror's calls wait in its ``GuardedSink`` (at most 10,000; past that the
oldest metrics are dropped, never the params or artifacts), sent in order when it opens. Nothing
waits for a mirror without a bound: ``force_process_and_log`` gives one still opening at most
a second, once; ``shutdown`` waits ``TrackerConfig.mirror_close_timeout_seconds`` (5 s) for all
of them together, then warns which calls were not mirrored.

Restart: after every processing the aggregator's step state and the mirrors' run ids go to
``<run_dir>/.labtrack/tracker_state.json``; a tracker opened on the same run directory (a Ray
actor restarted after a crash) reads it and continues the same run. Events received but not yet
processed when the process died (at most two processing intervals) are lost.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from ..errors import MissingExtraError, SerializationError
from ..sinks import GuardedSink, Sink, SinkRun, create_sink
from .aggregation import Aggregator, Point
from .batch import EventBatch
from .config import TrackerConfig
from .persistence import RunFiles, to_cpu
from .schemas import CheckpointData, LoadedTrainingState, RawMetricEvent

log = logging.getLogger(__name__)

EventTuple = (
    tuple[str, float, int, "Mapping[str, Any] | None"]
    | tuple[str, float, int, "Mapping[str, Any] | None", float]  # + the event's timestamp
)
# The longest force_process_and_log waits, once, for a mirror still opening: enough for one that
# opens at once (TensorBoard, a MemorySink) to be open, far too short to stall a training loop.
_FLUSH_OPEN_WAIT_SECONDS = 1.0
# The order mirrors named by the config open in, one after another on one thread: the quick ones
# first, MLflow (seconds to a minute) last. One thread, because two importing MLflow and
# tensorboardX at once can see each other's shared packages (torch) half imported.
_OPEN_ORDER = ("console", "tensorboard", "aim", "mlflow")
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
        # Missing packages of explicitly named mirrors fail here, before the run is created;
        # the mirrors themselves are made, and their packages imported, on their own thread.
        chosen = (
            list(sinks)
            if sinks is not None
            else [
                GuardedSink(functools.partial(self._make_sink, n), name=n)
                for n in sorted(self._mirror_names(), key=_OPEN_ORDER.index)
            ]
        )
        _fetch_from_the_stores_node(self.files)
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
        if self.run.remote:  # checkpoints, buffers and state travel with the run's records
            self.files.on_written = self.run.save_file
        self._pending: deque[EventTuple] = deque()
        self._max_pending = max_pending
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._requested_step = self._agg.last_processed_step
        # Drained events of steps after _requested_step, waiting for their process_and_log:
        # those held since the last processing, and those held before it (released at the next).
        self._ahead_new: list[EventTuple] = []
        self._ahead_old: list[EventTuple] = []
        self._ahead_split_at = self._requested_step
        # Mirrors open on a thread of their own (see the module docstring): a new tracker, or
        # actor, answers at once; each mirror's calls are queued in its GuardedSink meanwhile.
        self._sinks = {s.name: s for s in (_guarded(sink) for sink in chosen)}
        self._resume_ids: Mapping[str, str] = saved.get("sink_ids", {})
        self.files.save_configs({"tracker": self.config.model_dump(mode="json")})
        params = _flat_params(self.config)
        for sink in self._sinks.values():
            sink.log_params(params)  # queued: the first call a mirror gets once open
        # set once the mirror's open was tried (opened, or failed and left to GuardedSink)
        self._open_tried = {name: threading.Event() for name in self._sinks}
        self._flush_may_wait = set(self._sinks)  # mirrors no flush has waited for yet
        self._thread = threading.Thread(target=self._loop, name="labtrack-tracker", daemon=True)
        self._thread.start()
        if self._sinks:
            threading.Thread(
                target=self._open_mirrors, name="labtrack-mirrors", daemon=True
            ).start()

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

    def log_events(
        self, batch: Iterable[RawMetricEvent | EventTuple], *, step: int | None = None
    ) -> int:
        """Queue many events: ``RawMetricEvent`` objects or ``(name, value, step, context)``
        tuples, or the :class:`~labtrack.tracker.batch.EventBatch` the batching client packs
        them into. With ``step``, then ``process_and_log(step)``: the client's one call for
        both. Returns how many events were queued."""
        if batch.__class__ is EventBatch:
            items: list[Any] = batch  # type: ignore[assignment]
            n = batch.events  # type: ignore[attr-defined]
        else:
            items = [_as_tuple(e) if isinstance(e, RawMetricEvent) else e for e in batch]
            n = len(items)
        self._pending.extend(items)
        if len(self._pending) >= self._max_pending:
            self._drain()
        if step is not None:
            self.process_and_log(step)
        return n

    def log_batch_events(self, events: Iterable[RawMetricEvent]) -> int:
        """trieye's name for :meth:`log_events`."""
        return self.log_events(events)

    def log_video(
        self,
        tag: str,
        video: Any,
        step: int | None = None,
        fps: float = 30.0,
        *,
        format: Literal["mp4", "gif"] = "mp4",
    ) -> None:
        """Record a video in the run at ``step``: by default the step training last reported
        (``process_and_log``, or the checkpoint a resume loaded).

        >>> tracker.log_video("Video/Episode", frames, fps=50)  # doctest: +SKIP

        ``video`` is either frames (a T×H×W×C uint8 array, or anything ``Run.log_video``
        takes), encoded here, on the caller's thread, as an H.264 MP4 (``labtrack[media]``) or
        with ``format="gif"`` a GIF, downscaled to 320 px; or the bytes of an MP4 or GIF file
        encoded elsewhere, stored as they are. Across Ray, send bytes: ``TrackerClient.log_video``
        encodes on the worker and ships kilobytes instead of megabytes of frames.
        ``RunView.videos(tag)`` reads the videos back; ``labtrack ui`` plays them.

        Raises ValueError naming the tag for a bad tag, step, fps or format and for bytes that
        are not a ``format`` file, TypeError for a value of the wrong type (frames that are not
        images). A file the disk refuses is reported and counted by the run, never raised.
        """
        at = self._requested_step if step is None else step
        with self._lock:
            self.run.log_video(tag, video, fps, step=at, format=format)

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
        """Aggregate and log everything pending now, at ``current_global_step`` (or ``step=``).

        When it returns the points are on disk in the labtrack run and sent to every open
        mirror. A mirror still opening is waited for once, at most a second; after that its
        points stay queued and reach it, in order, when it opens.
        """
        self.process_and_log(_step_arg(current_global_step, step))
        self._process(force=True)
        with self._lock:
            self.run.flush()
        self._flush_mirrors()

    # ------------------------------------------------------------------ processing

    def _drain(self, *, everything: bool = False) -> None:
        """Move queued events into the aggregator; those of a step after the requested one wait
        (see the module docstring), unless ``everything``."""
        pending = self._pending
        if not pending:
            waiting = self._ahead_old or self._ahead_new
            if not waiting or (not everything and self._requested_step == self._ahead_split_at):
                return  # nothing to move
        batch = [pending.popleft() for _ in range(len(pending))]
        with self._lock:
            held = len(self._ahead_old) + len(self._ahead_new)
            if everything or held + len(batch) > self._max_pending:  # memory stays bounded
                ready = [*self._ahead_old, *self._ahead_new, *batch]
                self._ahead_old, self._ahead_new = [], []
            else:
                limit = self._requested_step
                ready = []
                if held and limit != self._ahead_split_at:  # their step may have come
                    ready, self._ahead_old = _split(self._ahead_old, limit, ready)
                    ready, self._ahead_new = _split(self._ahead_new, limit, ready)
                self._ahead_split_at = limit
                ready, ahead = _split(batch, limit, ready)
                self._ahead_new.extend(ahead)
            if ready:
                self._agg.add_many(ready)

    def _process(self, *, force: bool = False) -> list[Point]:
        self._drain(everything=force)
        with self._lock:
            if self._ahead_old:  # waited a whole interval for their process_and_log: take them
                self._agg.add_many(self._ahead_old)
            self._ahead_old, self._ahead_new = self._ahead_new, []
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

    def _loop(self) -> None:
        interval = self.config.stats.processing_interval_seconds
        next_process = time.monotonic() + interval
        while not self._stop.is_set():
            # Events wait in the deque until their processing: draining them in between would
            # do the same work in more, smaller pieces, and wake an idle tracker 20 times a second.
            self._wake.wait(max(0.0, next_process - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return  # shutdown processes what is left itself
            try:
                next_process = time.monotonic() + interval
                self._process()
            except Exception:  # the one boundary: a tracker bug must not kill training
                log.exception("tracker: processing failed; will retry next interval")

    def _state(self) -> dict[str, Any]:
        ids = {n: s.backend_id for n, s in self._sinks.items() if s.backend_id}
        return {"aggregator": self._agg.state_dict(), "sink_ids": ids}

    # ------------------------------------------------------------------ sinks

    def _open_mirrors(self) -> None:
        """Open the mirrors one after another, on the thread that runs this; a mirror not
        reached before shutdown is left closed (its close reported what it did not get)."""
        try:
            for name, sink in list(self._sinks.items()):
                if not self._closed:
                    self._open_mirror(sink)
                self._open_tried[name].set()
        finally:
            for tried in self._open_tried.values():
                tried.set()

    def _open_mirror(self, sink: GuardedSink) -> None:
        """Open one mirror (``GuardedSink.open`` reports failures itself and sends the calls
        queued meanwhile), then record its backend id for a restart."""
        resume = self._resume_ids.get(sink.name)
        sink.open(SinkRun(self.config.app_name, self.config.run_name, self.files.run_dir, resume))
        if not sink.backend_id:
            return
        with self._lock:
            if self._closed:  # shutdown saves the state itself
                return
            try:
                self.files.save_tracker_state(self._state())
            except OSError:  # the next processing saves it again
                log.warning(
                    "tracker: saving the state after opening %r failed", sink.name, exc_info=True
                )

    def _flush_mirrors(self) -> None:
        deadline = time.monotonic() + _FLUSH_OPEN_WAIT_SECONDS
        for name, sink in list(self._sinks.items()):
            tried = self._open_tried[name]
            if not tried.is_set() and name in self._flush_may_wait:
                self._flush_may_wait.discard(name)
                if not tried.wait(max(0.0, deadline - time.monotonic())):
                    log.info(
                        "mirror %r is still opening: its points are queued and sent when it "
                        "opens (the labtrack run has them now)",
                        name,
                    )
            if tried.is_set():
                sink.flush()

    def _close_mirrors(self, sinks: Mapping[str, GuardedSink]) -> None:
        """Close ``sinks``, waiting at most ``mirror_close_timeout_seconds`` in all for those
        still opening (``GuardedSink.close`` warns about what they had not mirrored)."""
        bound = self.config.mirror_close_timeout_seconds
        deadline = time.monotonic() + bound
        late = []
        for name, sink in sinks.items():
            if not self._open_tried[name].wait(max(0.0, deadline - time.monotonic())):
                late.append(name)
            sink.close(timeout=max(0.0, deadline - time.monotonic()))
        if late:
            log.warning(
                "tracker: waited %.1f s (TrackerConfig.mirror_close_timeout_seconds) for "
                "mirror(s) %s to open; what they did not receive is listed above",
                bound,
                ", ".join(late),
            )

    def _mirror_names(self) -> list[str]:
        if self.config.mirrors is not None:
            for name in self.config.mirrors:
                # Found, not imported: the mirror's own thread imports it (MLflow takes seconds).
                if importlib.util.find_spec(_MIRROR_MODULE[name]) is None:
                    extra = name if name != "console" else "ray"
                    raise MissingExtraError(_MIRROR_MODULE[name], extra, f"The {name} mirror")
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
        """The MLflow run id, or None when there is no MLflow mirror or it has not opened yet
        (mirrors open in the background; see the module docstring)."""
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
        """Flush and close the TensorBoard mirror (trieye's call; the rest keep running).

        Waits for it to open as ``shutdown`` does, at most ``mirror_close_timeout_seconds``."""
        with self._lock:
            sink = self._sinks.pop("tensorboard", None)
        if sink is not None:
            self._close_mirrors({"tensorboard": sink})

    def get_counts(self) -> dict[str, Any]:
        """Event counters (received, nonfinite, unknown, ...) and the step state.

        Every event received so far is counted: those waiting for their step's
        ``process_and_log`` are aggregated now (and logged with the next processing).
        """
        self._drain(everything=True)
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
        """Process what is pending, close the mirrors and finish the run. Idempotent.

        Mirrors still opening are waited for at most ``config.mirror_close_timeout_seconds``
        (5 s by default) in all; a warning names the calls they had not received by then.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        try:
            self._process(force=True)
        finally:
            try:
                self._close_mirrors(dict(self._sinks))
            finally:
                with self._lock:
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


def _split(
    batch: list[EventTuple], limit: int, ready: list[EventTuple]
) -> tuple[list[EventTuple], list[EventTuple]]:
    """``ready`` extended with the events of ``batch`` up to step ``limit``, and the rest.
    Malformed events count as ready: the aggregator counts them."""
    ahead: list[EventTuple] = []
    for item in batch:
        try:
            later = item[2] > limit
        except (TypeError, IndexError, KeyError):
            later = False
        (ahead if later else ready).append(item)
    return ready, ahead


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


def _fetch_from_the_stores_node(files: RunFiles) -> None:
    """On a Ray node that cannot see the store, bring the run's checkpoints, buffers and step
    state here first, so a tracker restarted on another node resumes like one restarted in
    place (``docs/cluster.md``). Outside Ray, or on the store's node, nothing is asked."""
    if "ray" not in sys.modules:
        return
    from ..cluster import fetch_folder

    fetch_folder(files.run_dir, also=[str(files.state_file.relative_to(files.run_dir))])
