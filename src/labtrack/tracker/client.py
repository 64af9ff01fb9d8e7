"""The worker-side client: buffer events locally, ship them to the actor in batches.

A ``.remote()`` call costs hundreds of microseconds; appending a tuple to a deque costs well
under one. A Ray worker therefore logs through a :class:`TrackerClient`::

    client = TrackerClient("tracker")                 # actor name or handle
    client.log_event("episode_end", 1.0, step, context={"score": 12.0})
    client.close()                                    # or: with TrackerClient(...) as client

Events are checked on the caller's side (a wrong type raises ``TypeError`` naming the field) and
sent with one ``log_events`` call per ``batch_size`` events, on a timer every
``flush_interval_seconds``, on ``process_and_log(step)`` (the events, then the step, in one
call) and on ``close()`` / interpreter exit; runs of alike events travel packed
(``labtrack.tracker.batch``). At most ``max_in_flight``
batches are unacknowledged: past that, the caller waits for the oldest, so a slow actor slows
the workers down instead of letting a queue grow without bound.

Videos (:meth:`TrackerClient.log_video`) are encoded on the caller's side too, and sent at once
as the MP4 or GIF file's bytes: tens of kilobytes cross Ray instead of the raw frames (a
500-step CartPole episode is 360 MB of them), and the encoding's CPU is the worker's, not the
actor's. Each video counts as one in-flight call.
"""

from __future__ import annotations

import atexit
import logging
import numbers
import threading
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

from .batch import pack
from .schemas import RawMetricEvent

_NUMBER = (float, int)


def check_event(name: Any, value: Any, global_step: Any, context: Any) -> tuple[Any, ...]:
    """The event as a ``(name, value, step, context)`` tuple, or a TypeError/ValueError that
    names the bad field."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"event field 'name' must be a non-empty str, got {name!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"event {name!r}: field 'value' must be a real number, got {type(value).__name__}"
        )
    if isinstance(global_step, bool) or not isinstance(global_step, numbers.Integral):
        raise TypeError(
            f"event {name!r}: field 'global_step' must be an int, got {type(global_step).__name__}"
        )
    if global_step < 0:
        raise ValueError(f"event {name!r}: field 'global_step' must be >= 0, got {global_step}")
    if context is not None and not isinstance(context, Mapping):
        raise TypeError(
            f"event {name!r}: field 'context' must be a mapping, got {type(context).__name__}"
        )
    return (name, float(value), int(global_step), dict(context) if context else None)


class TrackerClient:
    """Batches events for a ``TrackerActor`` (see the module docstring).

    Args:
        actor: the actor handle, or its name (looked up with ``ray.get_actor``).
        namespace: Ray namespace of a named actor.
        batch_size: events per ``log_events`` call.
        flush_interval_seconds: a timer flushes what is buffered this often (0: no timer).
        max_in_flight: unacknowledged batches before the caller waits.
    """

    def __init__(
        self,
        actor: Any,
        *,
        namespace: str | None = None,
        batch_size: int = 4096,
        flush_interval_seconds: float = 1.0,
        max_in_flight: int = 4,
    ) -> None:
        if batch_size < 1 or max_in_flight < 1 or flush_interval_seconds < 0:
            raise ValueError("batch_size and max_in_flight must be >= 1, flush_interval >= 0")
        self._options = {
            "namespace": namespace,
            "batch_size": batch_size,
            "flush_interval_seconds": flush_interval_seconds,
            "max_in_flight": max_in_flight,
        }
        self._actor_arg = actor
        if isinstance(actor, str):
            import ray

            actor = ray.get_actor(actor, namespace=namespace)
        self._actor = actor
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._buffer: deque[tuple[Any, ...]] = deque()
        self._in_flight: deque[Any] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self.sent = 0  # events handed to the actor
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if flush_interval_seconds > 0:
            self._timer = threading.Thread(
                target=self._tick,
                args=(flush_interval_seconds,),
                daemon=True,
                name="labtrack-client-flush",
            )
            self._timer.start()
        atexit.register(self.close)

    def log_event(
        self,
        name: str,
        value: float,
        global_step: int,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Buffer one event (checked here; TypeError/ValueError name the bad field)."""
        if (
            name.__class__ is not str
            or global_step.__class__ is not int
            or value.__class__ not in _NUMBER
            or global_step < 0
            or (context is not None and context.__class__ is not dict)
            or not name
        ):
            name, value, global_step, context = check_event(name, value, global_step, context)
        buffer = self._buffer
        buffer.append((name, value, global_step, context))
        if len(buffer) >= self._batch_size:
            self.flush()

    def log(self, event: RawMetricEvent) -> None:
        """Buffer a :class:`RawMetricEvent` (already validated when it was built)."""
        self._buffer.append((event.name, event.value, event.global_step, event.context or None))
        if len(self._buffer) >= self._batch_size:
            self.flush()

    def log_video(
        self,
        tag: str,
        frames: Any,
        step: int | None = None,
        fps: float = 30.0,
        *,
        format: Literal["mp4", "gif"] = "mp4",
        max_frames: int = 1000,
        max_size: int | None = 320,
    ) -> None:
        """Encode ``frames`` here and send the file to the actor's ``log_video``.

        >>> client.log_video("Video/Episode", frames, step, fps=50)  # doctest: +SKIP

        ``frames``, ``fps``, ``format``, ``max_frames`` and ``max_size`` are those of
        ``Run.log_video``: T×H×W×C frames (or an iterable of frames), kept up to
        ``max_frames`` and downscaled to ``max_size`` pixels, as an H.264 MP4
        (``labtrack[media]``) or a GIF. ``step`` None: the tracker's current global step.
        Bad arguments and frames raise here (ValueError/TypeError naming the tag); what goes
        wrong on the actor's side is logged there and never reaches this worker.
        """
        from ..store import check_tag
        from ..store._media import encode_video  # the store's encoder, not its run writer

        check_tag(tag)
        if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)):
            raise TypeError(f"step for video {tag!r} must be an int or None, got {step!r}")
        if step is not None and step < 0:
            raise ValueError(f"step for video {tag!r} must be >= 0, got {step}")
        data = encode_video(tag, frames, fps, fmt=format, max_frames=max_frames, max_size=max_size)
        at = None if step is None else int(step)
        with self._lock:
            self._in_flight.append(self._actor.log_video.remote(tag, data, at, fps, format=format))
            self._wait_in_flight(self._max_in_flight)

    def flush(self, *, wait: bool = False) -> None:
        """Send what is buffered; with ``wait``, also wait until the actor has queued it all."""
        self._send(None, wait=wait)

    def process_and_log(self, current_global_step: int) -> None:
        """Send what is buffered and then the actor's ``process_and_log(current_global_step)``,
        in one call: a training loop's "step N is done", without a second round trip."""
        if isinstance(current_global_step, bool) or not isinstance(
            current_global_step, numbers.Integral
        ):
            raise TypeError(
                "process_and_log() takes the global step as an int, got "
                f"{type(current_global_step).__name__}"
            )
        self._send(int(current_global_step), wait=False)

    def _send(self, step: int | None, *, wait: bool) -> None:
        with self._lock:
            buffer = self._buffer
            n = len(buffer)
            if n or step is not None:
                batch = pack([buffer.popleft() for _ in range(n)])  # see labtrack.tracker.batch
                self._in_flight.append(self._actor.log_events.remote(batch, step=step))
                self.sent += n
            self._wait_in_flight(0 if wait else self._max_in_flight)

    def _wait_in_flight(self, limit: int) -> None:
        """Wait for the oldest calls until at most ``limit`` are unacknowledged (lock held)."""
        import ray

        while len(self._in_flight) > limit:
            ray.get(self._in_flight.popleft())

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if self._buffer:
                try:
                    self.flush()
                except Exception:  # the actor may be restarting: the next tick retries
                    logging.getLogger(__name__).warning(
                        "tracker client flush failed", exc_info=True
                    )

    def close(self) -> None:
        """Send everything and wait for the actor to accept it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        atexit.unregister(self.close)
        try:
            self.flush(wait=True)
        except Exception:
            logging.getLogger(__name__).warning(
                "tracker client could not deliver its last %d events",
                len(self._buffer),
                exc_info=True,
            )

    def __enter__(self) -> TrackerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Shipping a client to a worker ships how to connect, not buffered events.
        return (_rebuild, (self._actor_arg, self._options))


def _rebuild(actor: Any, options: dict[str, Any]) -> TrackerClient:
    return TrackerClient(actor, **options)
