"""The one boundary where a mirror's failure is contained: report once, keep, retry later.

A training run must never die because a mirror failed (MLflow unreachable, disk full in its
folder). :class:`GuardedSink` wraps any sink: every call is queued, then the queue is sent in
order; when the sink raises, the failure is logged once (with the traceback) for the outage, the
calls stay queued, and sending is retried after ``retry_seconds`` (doubling up to
``max_retry_seconds``). When the sink works again, a recovery line is logged. The labtrack store
is written separately, so what it holds is never affected.

Threads. Opening a mirror can take a minute (importing MLflow and creating its tables on a
loaded machine), so the tracker opens its mirrors on a thread of their own while it goes on
processing. A ``GuardedSink`` is therefore safe to call from several threads, and the wrapped
sink still sees one thread at a time (it need not be thread-safe): whoever calls it holds the
send lock. A call made while another thread holds it (opening the sink, or sending) is queued
and left to that thread, which sends what was queued meanwhile before it lets go; the caller
returns at once. :meth:`GuardedSink.flush` and :meth:`GuardedSink.close` wait for that thread at
most their ``timeout``. A close that gives up leaves the sink to the thread that is opening it:
if the open returns while the process lives, that thread sends the queued calls and closes the
sink. The warning of the close says which calls had not been sent.

A ``GuardedSink`` can also be given a function that makes the sink, with the sink's name: it
is called by the thread that opens it, so the backend's module (and whatever it imports) stays
off the path of whoever creates the ``GuardedSink``, such as a starting Ray actor.

The queue holds at most ``max_pending`` calls, both before the sink opens and while it fails.
When it is full the oldest ``log_metrics`` call is dropped (and counted): parameters and
artifacts are one call each and describe the whole run, so they are kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._base import Sink, SinkRun

log = logging.getLogger(__name__)

_Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class GuardedSink(Sink):
    """``sink`` with failures reported and retried instead of raised.

    ::

        guarded = GuardedSink(create_sink("mlflow", tracking_uri=uri))
        guarded.open(run)            # never raises; a failed open is retried with the next call
        guarded.log_metrics({"loss": 0.1}, step=5)
        guarded.close(timeout=10)    # waits at most 10 s for a thread still opening it

        later = GuardedSink(lambda: create_sink("tensorboard", log_dir="tb"), name="tensorboard")

    Args:
        sink: the sink, or a function that makes it when it is first opened (then ``name``
            is required: calls are queued under it before the sink exists).
        name: the sink's name, for a function; a sink's own name otherwise.
        retry_seconds: first delay before a failed call is tried again (then doubled...).
        max_retry_seconds: ...up to this.
        max_pending: calls kept while the sink is not open or failing.
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self,
        sink: Sink | Callable[[], Sink],
        *,
        name: str | None = None,
        retry_seconds: float = 2.0,
        max_retry_seconds: float = 60.0,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(sink, Sink):
            self._sink: Sink | None = sink
            self._factory: Callable[[], Sink] | None = None
            name = sink.name
        elif not name:
            raise TypeError("GuardedSink(function) needs name=, the name of the sink it makes")
        else:
            self._sink, self._factory = None, sink
        self.name = name  # type: ignore[misc]  # instance mirrors the wrapped class
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._backoff = retry_seconds
        self._clock = clock
        self._max_pending = max(1, max_pending)
        self._pending: deque[_Call] = deque()
        self._queue_lock = threading.Lock()  # guards _pending and dropped
        self._send_lock = threading.Lock()  # held while the wrapped sink is called; guards the rest
        self._run: SinkRun | None = None
        self._opened = False
        self._failing = False
        self._next_try = 0.0
        self._close_requested = False
        self._gave_up = False  # a close stopped waiting for the thread holding the send lock
        self._closed = False
        self.backend_id: str | None = None
        self.failures = 0  # calls that raised, in total
        self.dropped = 0  # queued calls dropped because the queue was full

    @property
    def sink(self) -> Sink | None:
        """The wrapped sink; None while a function given to make it has not been called."""
        return self._sink

    @property
    def healthy(self) -> bool:
        """False while the wrapped sink is failing."""
        return not self._failing

    @property
    def opened(self) -> bool:
        """True from the wrapped sink's successful ``open`` until ``close``."""
        return self._opened

    @property
    def pending(self) -> int:
        """Calls waiting to be sent."""
        return len(self._pending)

    def open(self, run: SinkRun) -> str | None:
        """Open the wrapped sink on this thread, sending what was queued before. Never raises:
        a failed open is reported and retried with later calls. A closed sink stays closed."""
        if self._close_requested:
            log.warning("sink %r: open() after close() is ignored", self.name)
            return None
        self._run = run
        self._try_send(force=True, timeout=None)
        return self.backend_id

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        wall = time.time() if wall_time is None else wall_time
        self._queue("log_metrics", (dict(metrics),), {"step": step, "wall_time": wall})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._queue("log_params", (dict(params),), {})

    def log_artifact(self, path: Path, *, name: str | None = None) -> None:
        self._queue("log_artifact", (Path(path),), {"name": name})

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now, ignoring the retry delay; True if all was sent.

        ``timeout``: how long to wait for another thread that is opening the sink or sending
        to it (None: as long as it takes). Calls not sent stay queued for that thread.
        """
        if self._try_send(force=True, timeout=timeout):
            return self._opened and not self._pending
        return False

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, then close the wrapped sink. Calling it twice is harmless.

        ``timeout``: how long to wait for another thread still opening the sink (or sending to
        it); None: as long as it takes. Past it a warning names the calls not yet mirrored and
        the opening thread, if its open returns while the process lives, sends them and closes
        the sink.
        """
        self._close_requested = True
        if not _acquire(self._send_lock, timeout):
            self._gave_up = True
            log.warning(
                "sink %r was still %s when close() stopped waiting: %s not mirrored yet (the "
                "labtrack store has the metrics); sent if it finishes before the process exits",
                self.name,
                "sending" if self._opened else "opening",
                self._describe_pending(),
            )
            return
        try:
            self._send_locked(force=True)
            self._finish_locked()
        finally:
            self._send_lock.release()

    # ------------------------------------------------------------------ internals

    def _queue(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        with self._queue_lock:
            while len(self._pending) >= self._max_pending:
                self._drop_oldest_metrics()
            self._pending.append((method, args, kwargs))
        self._try_send(force=False, timeout=0)

    def _drop_oldest_metrics(self) -> None:
        index = next((i for i, c in enumerate(self._pending) if c[0] == "log_metrics"), 0)
        del self._pending[index]
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            log.warning(
                "sink %r: %d calls queued while it opens or fails; dropped the oldest metrics "
                "(%d calls so far; the labtrack store has them)",
                self.name,
                self._max_pending,
                self.dropped,
            )

    def _try_send(self, *, force: bool, timeout: float | None) -> bool:
        """Send the queue if this thread gets the send lock within ``timeout``; False if not."""
        while self._run is not None:
            if not _acquire(self._send_lock, timeout):
                return False
            try:
                self._send_locked(force=force)
                if self._close_requested:  # a close that stopped waiting for this thread
                    self._finish_locked()
            finally:
                self._send_lock.release()
            # A call queued while this thread held the lock was left to it: send it too.
            if not self._pending or self._failing or not self._opened or self._closed:
                break
        return True

    def _send_locked(self, *, force: bool) -> None:
        if self._run is None or self._closed:
            return
        if self._failing and not force and self._clock() < self._next_try:
            return
        try:
            if not self._opened:
                if self._sink is None:
                    assert self._factory is not None  # one of the two is given
                    self._sink = self._factory()
                self.backend_id = self._sink.open(self._run)
                self._opened = True
            while True:
                with self._queue_lock:
                    if not self._pending:
                        break
                    call = self._pending.popleft()
                try:
                    self._deliver(call)
                except BaseException:
                    with self._queue_lock:
                        self._pending.appendleft(call)
                    raise
        except Exception as exc:
            self._report(exc)
            return
        if self._failing:
            log.warning("sink %r works again after %d failed attempts", self.name, self.failures)
        self._failing = False
        self._backoff = self._retry

    def _deliver(self, call: _Call) -> None:
        method, args, kwargs = call
        if method == "log_artifact" and not args[0].exists():
            log.warning("sink %r: artifact %s vanished before it was sent", self.name, args[0])
            return
        getattr(self._sink, method)(*args, **kwargs)

    def _report(self, exc: Exception) -> None:
        self.failures += 1
        if not self._failing:
            log.warning(
                "sink %r failed (%s: %s); %d calls kept, retrying in %.0f s. The labtrack "
                "store is unaffected.",
                self.name,
                type(exc).__name__,
                exc,
                len(self._pending),
                self._backoff,
                exc_info=True,
            )
        self._failing = True
        self._next_try = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self._max_retry)

    def _finish_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pending:
            log.warning(
                "sink %r closed with %s it could not deliver", self.name, self._describe_pending()
            )
        elif self._gave_up and self._opened:
            log.info("sink %r opened after close() stopped waiting; everything was sent", self.name)
        if self._opened and self._sink is not None:
            try:
                self._sink.close()
            except Exception:
                log.warning("sink %r failed to close", self.name, exc_info=True)
        self._opened = False

    def _describe_pending(self) -> str:
        with self._queue_lock:
            calls = list(self._pending)
        dropped = f"; {self.dropped} older metrics calls dropped" if self.dropped else ""
        if not calls:
            return f"0 calls{dropped}"
        counts = Counter(method for method, _, _ in calls)
        parts = [f"{n} {method}" for method, n in sorted(counts.items())]
        steps = [kwargs["step"] for method, _, kwargs in calls if method == "log_metrics"]
        if steps:
            parts[sorted(counts).index("log_metrics")] += f" (steps {min(steps)}-{max(steps)})"
        return f"{len(calls)} calls ({', '.join(parts)}){dropped}"


def _acquire(lock: threading.Lock, timeout: float | None) -> bool:
    if timeout is None:
        return lock.acquire()
    if timeout <= 0:
        return lock.acquire(blocking=False)
    return lock.acquire(timeout=timeout)
