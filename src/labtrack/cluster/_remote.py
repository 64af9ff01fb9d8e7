"""``RemoteOutput``: a run writer's storage side when the store is on another node.

The writer buffers, encodes and flushes exactly as it does for a local run directory; at each
flush the framed records go to the store's :class:`~labtrack.cluster._ingest.StoreIngest` actor
instead of a local file. Everything the writer sends (claim aside, which waits for its answer)
is one ordered log of operations: media and artifact files (read in chunks and ``ray.put``, so no
call carries a whole video), data batches with their sequence numbers, metadata, the release.

Delivery: an operation stays in the log until the actor acknowledges it. When one fails (the
actor died and is restarting, or its disk refused a write) or the actor reports a gap, every
operation from the first unacknowledged one on is sent again, in order; the actor appends each
data batch once (see ``_ingest``). What waits (unacknowledged batches and the backlog not yet
sent) is bounded by the writer's ``max_backlog_bytes``; past it new points are dropped, counted
and reported, as for a local disk that refuses writes. ``finish()`` waits for the
acknowledgements (up to :data:`CLOSE_TIMEOUT` seconds); what is still unacknowledged then is
counted as lost and the run ends ``failed`` with ``DataLoss``, never silently ``completed``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..store._claim import Claimed, writer_identity
from ..store._datafile import Pending
from ..store._outage import Outages

#: Seconds ``finish()`` waits for the store's node to acknowledge everything.
CLOSE_TIMEOUT = 120.0
#: Data batches sent and not yet acknowledged, past which the backlog waits for the next write.
MAX_BATCHES_IN_FLIGHT = 2
#: Seconds ``flush()`` waits for the store's node to acknowledge what it sent.
FLUSH_TIMEOUT = 30.0
#: Seconds a run waits for the store's node to claim it.
CLAIM_TIMEOUT = 120.0
_UNREACHABLE = -1  # the outage cause of "the store's node did not take it"
#: Bytes per ``ray.put`` when a file travels to the store's node.
CHUNK_BYTES = 8 * 1024 * 1024


class _Op:
    """One operation in the log: ``send()`` submits it (again) and keeps the reply's ref."""

    __slots__ = ("args", "method", "nbytes", "points", "ref", "seq")

    def __init__(
        self, method: str, args: tuple[Any, ...], seq: int = -1, points: int = 0, nbytes: int = 0
    ) -> None:
        self.method = method
        self.args = args
        self.seq = seq  # >= 0 for a data batch
        self.points = points
        self.nbytes = nbytes
        self.ref: Any = None


class _Log:
    """The ordered, resendable operations of one writer (see the module docstring)."""

    def __init__(self, actor: Any, outages: Outages | None = None) -> None:
        import ray

        self._ray = ray
        self._actor = actor
        self.outages = outages
        self.ops: deque[_Op] = deque()
        self.acked_bytes = 0
        self.last_error: str | None = None
        # The caller's thread sends files while the writer's thread sends batches and settles.
        self._lock = threading.RLock()
        self.waiting_bytes = 0  # of the data batches not yet acknowledged
        self.waiting_points = 0
        self.batches = 0  # data batches not yet acknowledged

    def send(self, op: _Op) -> None:
        with self._lock:
            self._submit(op)
            self.waiting_bytes += op.nbytes
            self.waiting_points += op.points
            self.batches += op.seq >= 0

    def _submit(self, op: _Op) -> None:
        op.ref = getattr(self._actor, op.method).remote(*op.args)
        self.ops.append(op)

    def settle(self, timeout: float = 0.0) -> None:
        """Take the acknowledgements that have arrived (waiting up to ``timeout`` seconds in
        all); on a failure or a gap, send again from the first unacknowledged operation."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._settle(deadline)

    def _settle(self, deadline: float) -> None:
        while self.ops:
            refs = [op.ref for op in self.ops]
            left = max(0.0, deadline - time.monotonic())
            ready = set(self._ray.wait(refs, num_returns=len(refs), timeout=left)[0])
            if not self._take(ready):  # a failure or a gap: all was sent again
                if time.monotonic() >= deadline:
                    return
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            elif self.ops and time.monotonic() >= deadline:
                return

    def _take(self, ready: set[Any]) -> bool:
        """Take the replies of the leading ready operations, in order; False when one failed
        or reported a gap (everything unacknowledged has then been sent again)."""
        while self.ops and self.ops[0].ref in ready:
            op = self.ops[0]
            try:
                reply = self._ray.get(op.ref)
            except self._ray.exceptions.RayError as exc:
                self._failed(exc)
                self._resend()
                return False
            if op.seq >= 0 and reply <= op.seq:  # the actor expects an earlier batch: a gap
                self._resend()
                return False
            self.ops.popleft()
            if op.seq >= 0:
                self.acked_bytes += op.nbytes
                self.waiting_bytes -= op.nbytes
                self.waiting_points -= op.points
                self.batches -= 1
            if self.outages is not None:
                self.outages.ok("data")
        return True

    def _resend(self) -> None:
        ops = list(self.ops)
        self.ops.clear()
        for op in ops:
            self._submit(op)

    def _failed(self, exc: BaseException) -> None:
        cause = getattr(exc, "cause", None) or exc
        first = str(cause).strip().splitlines()
        self.last_error = f"{type(cause).__name__}: {first[0] if first else ''}"
        if self.outages is not None:
            self.outages.failed(
                "data",
                f"the store's node did not take a write ({self.last_error}); keeping it and "
                "sending it again",
                cause=_UNREACHABLE,
            )


class RemoteDataFile:
    """The writer's data sink for a remote run: the same contract as ``DataFile``."""

    def __init__(
        self, output: RemoteOutput, path: Path, outages: Outages, max_backlog_bytes: int
    ) -> None:
        self.path = path
        self._output = output
        self._outages = outages
        self._max_backlog = max_backlog_bytes
        self._backlog: deque[Pending] = deque()
        self._backlog_bytes = 0
        self._seq = 0
        self.lost_points = 0
        self.lost_records = 0

    @property
    def size(self) -> int:
        return self._output.log.acked_bytes

    @property
    def last_error(self) -> str | None:
        return self._output.log.last_error

    @property
    def pending(self) -> bool:
        return bool(self._backlog)

    def add(self, records: list[Pending]) -> None:
        waiting = self._output.log.waiting_bytes
        for item in records:
            if (
                item.droppable
                and waiting + self._backlog_bytes + len(item.data) > self._max_backlog
            ):
                self.lost_points += item.points
                self.lost_records += 1
                self._outages.failed(
                    "data",
                    f"the store's node has not acknowledged {waiting / 1e6:.0f} MB for "
                    f"{self.path} ({self.last_error or 'it is slow or unreachable'}): dropping "
                    f"newer points past max_backlog_bytes={self._max_backlog}; the run will be "
                    "marked as having lost data",
                )
                continue
            self._backlog.append(item)
            self._backlog_bytes += len(item.data)

    def write(self) -> bool:
        """Send the backlog as one batch, unless :data:`MAX_BATCHES_IN_FLIGHT` wait for their
        acknowledgement already: then it grows and goes with a later call (fewer, larger calls
        while the store's node is busy). Always True: nothing is refused here (``add`` bounds
        what waits)."""
        log = self._output.log
        log.settle()
        if log.batches < MAX_BATCHES_IN_FLIGHT:
            self._send_backlog()
        return True

    def _send_backlog(self) -> None:
        log = self._output.log
        if self._backlog:
            items = list(self._backlog)
            self._backlog.clear()
            self._backlog_bytes = 0
            args = (
                self._output.run_dir_str,
                self._output.writer,
                self._seq,
                [p.data for p in items],
            )
            op = _Op(
                "append",
                args,
                self._seq,
                sum(p.points for p in items),
                sum(len(p.data) for p in items),
            )
            self._seq += 1
            log.send(op)

    def settle(self) -> None:
        """Wait until the store's node acknowledged everything sent (``flush()``), at most
        :data:`FLUSH_TIMEOUT` seconds; what is still unacknowledged then stays queued."""
        self._send_backlog()
        self._output.log.settle(FLUSH_TIMEOUT)

    def drop_backlog(self) -> int:
        points = sum(p.points for p in self._backlog)
        self.lost_points += points
        self._backlog.clear()
        self._backlog_bytes = 0
        return points

    def close(self, durable: bool) -> None:
        """Wait for every batch to be acknowledged; count what never was as lost."""
        log = self._output.log
        self._send_backlog()
        log.settle(CLOSE_TIMEOUT)
        if log.ops:
            lost = log.waiting_points
            self.lost_points += lost
            self._outages.failed(
                "data",
                f"the store's node did not acknowledge {lost} point(s) for {self.path} within "
                f"{CLOSE_TIMEOUT:.0f} s ({self.last_error or 'no answer'})",
            )
            return
        log.send(_Op("close", (self._output.run_dir_str, self._output.writer, durable)))


class RemoteOutput:
    """A run's storage on the store's node, reached through its ingest actor."""

    def __init__(self, actor: Any, run_dir: Path, local_dir: Path | None = None) -> None:
        self.run_dir = run_dir
        self.run_dir_str = str(run_dir)
        self.files_dir = local_dir if local_dir is not None else _local_folder(run_dir)
        self.actor = actor
        self.log = _Log(actor)
        self.writer = ""

    def claim(
        self,
        experiment: str,
        name: str | None,
        config: dict[str, Any],
        tags: dict[str, str],
        run_id: str | None,
    ) -> Claimed:
        import ray

        ref = self.actor.claim.remote(
            self.run_dir_str, experiment, name, config, tags, run_id, writer_identity()
        )
        try:
            claimed: Claimed = ray.get(ref, timeout=CLAIM_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise StoreError(
                f"the store's node did not answer within {CLAIM_TIMEOUT:.0f} s when claiming "
                f"{self.run_dir}"
            ) from None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, Exception) else None
            if cause is not None:
                raise cause from None
            raise
        self.writer = f"{claimed.meta['id']}.{claimed.number}"
        return claimed

    def data_file(self, outages: Outages, max_backlog_bytes: int) -> RemoteDataFile:
        self.log.outages = outages
        path = self.run_dir / ".labtrack" / "data.ltr"
        return RemoteDataFile(self, path, outages, max_backlog_bytes)

    def files_written(self, paths: Iterable[Path]) -> None:
        # Sent at once: the record announcing a media file is queued after this returns, so
        # the file always reaches the store's node first.
        for path in paths:
            send_file(self.log, self.run_dir_str, path, str(path.relative_to(self.files_dir)))

    def write_meta(self, meta: Mapping[str, Any], fsync: bool) -> None:
        self.log.send(_Op("write_meta", (self.run_dir_str, self.writer, dict(meta), fsync)))

    def release(self, number: int) -> None:
        """The last operation: wait until everything before it is acknowledged (bounded)."""
        self.log.send(_Op("release", (self.run_dir_str, self.writer, number)))
        self.log.settle(CLOSE_TIMEOUT)
        if self.log.ops:
            raise OSError(f"the store's node did not acknowledge the end of {self.run_dir}")


def send_file(log: _Log, run_dir: str, path: Path, relative: str) -> None:
    """Queue ``path`` for the store's node as ``run_dir/relative``, in ``ray.put`` chunks."""
    import ray

    chunks = []
    with open(path, "rb") as fh:
        while data := fh.read(CHUNK_BYTES):
            chunks.append(ray.put(data))
    log.send(_Op("put_file", (run_dir, relative, chunks)))


def _local_folder(run_dir: Path) -> Path:
    """Where this node keeps a remote run's files before they travel: the run's own path when
    it can be made here (so code that writes into ``run.dir`` keeps working), else a
    temporary folder."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if os.access(run_dir, os.W_OK):
            return run_dir
    except OSError:
        pass
    folder = Path(tempfile.gettempdir()) / "labtrack-remote" / run_dir.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
