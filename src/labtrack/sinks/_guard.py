"""The one boundary where a mirror's failure is contained: report once, keep, retry later.

A training run must never die because a mirror failed (MLflow unreachable, disk full in its
folder). :class:`GuardedSink` wraps any sink: every call is queued, then the queue is sent in
order; when the sink raises, the failure is logged once (with the traceback) for the outage, the
calls stay queued (at most ``max_pending``, oldest dropped first and counted), and sending is
retried after ``retry_seconds`` (doubling up to ``max_retry_seconds``). When the sink works
again, a recovery line is logged. The labtrack store is written separately, so what it holds is
never affected.
"""

from __future__ import annotations

import logging
import time
from collections import deque
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
    """

    def __init__(
        self,
        sink: Sink,
        *,
        retry_seconds: float = 2.0,
        max_retry_seconds: float = 60.0,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.name = sink.name  # type: ignore[misc]  # instance mirrors the wrapped class
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._backoff = retry_seconds
        self._clock = clock
        self._pending: deque[_Call] = deque(maxlen=max_pending)
        self._run: SinkRun | None = None
        self._opened = False
        self._failing = False
        self._next_try = 0.0
        self.backend_id: str | None = None
        self.failures = 0  # calls that raised, in total
        self.dropped = 0  # queued calls dropped because the queue was full

    @property
    def healthy(self) -> bool:
        """False while the wrapped sink is failing."""
        return not self._failing

    @property
    def pending(self) -> int:
        """Calls waiting to be sent."""
        return len(self._pending)

    def open(self, run: SinkRun) -> str | None:
        self._run = run
        self._try_send(force=True)
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

    def flush(self) -> bool:
        """Try to send everything queued now, ignoring the retry delay; True if all was sent."""
        self._try_send(force=True)
        return not self._pending and self._opened

    def close(self) -> None:
        self._try_send(force=True)
        if self._pending:
            log.warning(
                "sink %r closed with %d calls it could not deliver", self.name, len(self._pending)
            )
        if self._opened:
            try:
                self.sink.close()
            except Exception:
                log.warning("sink %r failed to close", self.name, exc_info=True)
        self._opened = False

    def _queue(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning(
                    "sink %r: queue full while it fails; dropped %d oldest calls so far",
                    self.name,
                    self.dropped,
                )
        self._pending.append((method, args, kwargs))
        self._try_send(force=False)

    def _try_send(self, *, force: bool) -> None:
        if self._run is None or (self._failing and not force and self._clock() < self._next_try):
            return
        try:
            if not self._opened:
                self.backend_id = self.sink.open(self._run)
                self._opened = True
            while self._pending:
                method, args, kwargs = self._pending[0]
                if method == "log_artifact" and not args[0].exists():
                    log.warning(
                        "sink %r: artifact %s vanished before it was sent", self.name, args[0]
                    )
                else:
                    getattr(self.sink, method)(*args, **kwargs)
                self._pending.popleft()
        except Exception as exc:
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
            return
        if self._failing:
            log.warning("sink %r works again after %d failed attempts", self.name, self.failures)
        self._failing = False
        self._backoff = self._retry
