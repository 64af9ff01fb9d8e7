"""RunWriter: the one writer of a run directory.

Design (see DESIGN.md, "A direction for the store"):

* The caller's thread does almost nothing: ``log_metric`` checks the value and step and extends
  the tag's flat in-memory list by ``(step, value, wall)`` (one atomic ``list.extend`` under the
  GIL, no lock; flat, because turning a flat list into columns costs a third of what a list of
  tuples does, and that cost bounds how soon the writer is done). A call that is rejected (a bad
  value, tag or step) stores nothing.
* A background thread persists what the lists hold (``len`` then ``del lst[:n]``, both atomic, so
  concurrent appends are never lost) as columnar records, by a deadline: each persist must start
  ``flush_interval`` after the previous one started, earlier by 1.5 times what a persist has been
  taking and by a headroom (50 ms, at most half the interval), so that it ends within the interval
  even when a loaded machine preempts it or a persist takes longer than the last ones. A training
  loop in a tight Python loop holds the GIL and can starve that thread (each time it gives the GIL
  up it waits up to the interpreter's switch interval to get it back), so the caller's thread
  checks the deadline against the wall time it takes for each point anyway and, when it has
  passed, persists itself. So a point logged
  more than ``flush_interval`` + 20 ms before the process is SIGKILLed is in the file (the page
  cache: a process crash needs no fsync); ``tests/reliability`` and ``bench/soak.py`` check it
  under load. ``flush()`` persists on the caller's thread too.
* Memory is bounded: a tag with ``max_pending`` unpersisted points makes the caller wait for the
  writer (``backpressure="block"``, up to ``max_block_seconds``) or drops the point and counts it
  (``"drop"``, or when waiting did not help).
* Encoding is guarded per tag: a point that cannot be encoded (it cannot pass the checks at the
  call, but a writer bug must not be fatal either) loses only itself, never other points, other
  tags or a tag's name.
* I/O errors (disk full, permissions) are reported once per outage and per file kind through the
  ``labtrack`` logger (``_outage``); the data waits in a bounded backlog (``_datafile``) and is
  written, oldest first and one whole record at a time, as soon as space is back; the training
  loop never sees them. Media and artifact files that cannot be written are reported the same way
  and counted.
* A run that lost anything (backlog past its bound, points dropped by backpressure, media not
  written, data still unwritten at ``finish()``) never ends ``completed``: it ends ``failed``
  with a ``DataLoss`` error, and the metadata's ``lost`` entry says what was lost and why.
  ``finish()`` raises :class:`~labtrack.errors.DataLossError` when it could not write what was
  logged.

Rare, larger things (text, figures, images, artifacts) are written by the caller's thread as files
under the run directory and announced by a small JSON record at the next flush.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping, MutableMapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from ..errors import DataLossError, StoreError
from . import _records as rec
from ._claim import Restored
from ._datafile import DEFAULT_MAX_BACKLOG_BYTES, Pending
from ._mediawriter import ArtifactKind, MediaWriter
from ._meta import (
    FINAL_STATUSES,
    HEARTBEAT_EVERY,
    META_DIR,
    META_FILE,
    cached_git_info,
    git_info,
)
from ._outage import Outages
from ._output import LocalOutput, RunOutput
from ._summary import RunSummary, TagStats, metrics_document, update_stats
from ._values import MAX_STEP, check_tag, storable, to_float, to_step

log = logging.getLogger("labtrack")

Backpressure = Literal["block", "drop"]

_ONLY_FLOAT = {float}
_META_EVERY = 1.0  # seconds between metadata rewrites while running (summary, heartbeat)
_POINTS_PER_RECORD = 1 << 20  # log_points splits bigger batches into records of this many
_COST_MARGIN = 1.5  # the next persist starts this many times its expected duration early
#: How much sooner than the crash window requires a persist is planned to end, at most (and at
#: most half the interval): room for a persist that a loaded machine slows down or preempts.
_HEADROOM = 0.05
_FINISH_RETRY_SECONDS = 1.0
_GIT_WAIT_SECONDS = 6.0  # finish() waits this long for the git lookup (its calls time out at 5)  # how long finish() keeps retrying a data file that fails


_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)


def _point_columns(points: list[Any]) -> tuple[list[int], list[float], list[float]]:
    """Columns of a flat ``[step, value, wall, step, value, wall, ...]`` list."""
    return points[0::3], points[1::3], points[2::3]


def _point_arrays(tag: str, steps: Any, values: Any, walls: Any) -> tuple[Any, Any, Any]:
    """Checked int64 / float64 / float64 columns for :meth:`RunWriter.log_points`; numpy is
    imported here, by callers that hold arrays anyway."""
    import numpy as np

    try:
        raw_steps = np.asarray(steps)
        value_col = np.asarray(values, dtype=np.float64)
        wall_col = np.asarray(walls, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"points for tag {tag!r} must be numeric sequences: {exc}") from None
    if not (raw_steps.ndim == value_col.ndim == wall_col.ndim == 1):
        raise ValueError(f"points for tag {tag!r} must be 1-D sequences")
    if not (len(raw_steps) == len(value_col) == len(wall_col)):
        raise ValueError(
            f"points for tag {tag!r}: {len(raw_steps)} steps, {len(value_col)} values and "
            f"{len(wall_col)} wall times; they must be as many"
        )
    if len(raw_steps) and not np.issubdtype(raw_steps.dtype, np.integer):
        raise TypeError(f"steps for tag {tag!r} must be integers, got {raw_steps.dtype}")
    if len(raw_steps) and (int(raw_steps.min()) < 0 or int(raw_steps.max()) > MAX_STEP):
        raise ValueError(f"steps for tag {tag!r} must be in 0..2**63 - 1")
    if not np.isfinite(wall_col).all():
        raise ValueError(f"wall times for tag {tag!r} must be finite seconds since the epoch")
    return raw_steps.astype(np.int64), value_col, wall_col


#: Points of one tag from one buffer: steps, values, wall times (lists, or arrays from
#: log_points), and (min, max) when known.
_Piece = tuple[Any, Any, Any, "tuple[float, float] | None"]


def _merge(tag_id: int, pieces: list[_Piece]) -> rec.Block:
    """One tag's columns from its pieces; a tag logged through both ``log_metric`` and ``log()``
    gets its points back in logging order."""
    if len(pieces) == 1:
        steps, values, walls, _ = pieces[0]
        return tag_id, steps, values, walls
    steps = [x for piece in pieces for x in piece[0]]
    values = [x for piece in pieces for x in piece[1]]
    walls = [x for piece in pieces for x in piece[2]]
    order = sorted(range(len(walls)), key=walls.__getitem__)  # stable: ties keep their order
    return (
        tag_id,
        [steps[i] for i in order],
        [values[i] for i in order],
        [walls[i] for i in order],
    )


class _TagBuffer:
    """Unpersisted points of one tag (flat: step, value, wall, step, ...), plus the tag's
    auto-step counter."""

    __slots__ = ("next_step", "points", "tag_id")

    def __init__(self, tag_id: int, next_step: int = 0) -> None:
        self.tag_id = tag_id
        self.next_step = next_step
        self.points: list[Any] = []


class _Finished(dict[Any, Any]):
    """Replaces the writer's look-up tables after ``finish()``: logging then raises, at no cost
    before (the hot path does one ``.get`` it does anyway)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        raise finished_error(self.run_id)


def finished_error(run_id: str) -> StoreError:
    """The one error every write to a finished run raises."""
    return StoreError(f"run {run_id} is finished; start a new run to log more")


class RunWriter:
    """Writes one run directory; see the module docstring for the design.

    Options: ``flush_interval`` (seconds between background persists), ``max_pending`` (points
    per tag held in memory before backpressure), ``backpressure`` ("block" waits up to
    ``max_block_seconds`` for the writer, "drop" counts and drops), ``durable`` (fsync the data
    and metadata at ``finish()`` so they survive a power loss, about 1 ms; a process crash never
    needs it), ``max_backlog_bytes`` (data kept in memory while the data file cannot be written,
    past which newer points are dropped, counted and reported), ``run_id`` (the id of a new run;
    a fresh one by default; a resumed run keeps its own).
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        experiment: str,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        tags: Sequence[str] | Mapping[str, str] | None = None,
        flush_interval: float = 0.1,
        max_pending: int = 250_000,
        backpressure: Backpressure = "block",
        max_block_seconds: float = 10.0,
        durable: bool = True,
        max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES,
        run_id: str | None = None,
        output: RunOutput | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0 seconds, got {flush_interval!r}")
        if backpressure not in ("block", "drop"):
            raise ValueError(f"backpressure must be 'block' or 'drop', got {backpressure!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending!r}")
        check_tag(experiment, "experiment")
        clean_config = storable(dict(config or {}), "config")
        clean_tags = _tags_dict(tags)
        self.dir = Path(run_dir).absolute()
        self._output: RunOutput = output if output is not None else LocalOutput(self.dir)
        self._meta_dir = self.dir / META_DIR
        self._flush_interval = float(flush_interval)
        self._max_pending = int(max_pending)
        self._max_flat = 3 * self._max_pending  # the same bound in flat list items
        # Seconds a persist takes (a slowly decaying maximum); the first one, which also warms
        # up numpy and opens the file, is guessed long so that it starts early.
        self._cost = self._flush_interval / 2
        self._lead = min(_HEADROOM, self._flush_interval / 2)
        self._due = time.time() + self._flush_interval - self._lead - self._cost  # next start
        self._backpressure = backpressure
        self._max_block = float(max_block_seconds)
        self._max_rows = max(1, self._max_pending // 16)
        self._durable = durable

        self._bufs: dict[str, _TagBuffer] = {}
        self._tag_names: list[str | None] = []
        self._tags_written = 0
        self._stats: TagStats = {}
        # log(dict, step=int) fast path: one row per call, exploded into columns by the writer
        self._rows: list[tuple[tuple[str, ...], int, float, list[Any]]] = []
        self._keysets: dict[tuple[str, ...], tuple[_TagBuffer, ...]] = {}
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reported: set[str] = set()
        self.dropped = 0  # points dropped by backpressure
        self._lost_media = 0
        self._lost_encoding = 0
        self._finished = False
        self._pid_owner = os.getpid()
        self._meta_dirty = False
        self._last_meta = 0.0
        self._last_heartbeat = 0.0

        claimed = self._output.claim(experiment, name, clean_config, clean_tags, run_id)
        self._meta = claimed.meta
        self._claim_number = claimed.number
        self._continue_from(claimed.restored)
        self.id: str = self._meta["id"]
        self.experiment: str = self._meta["experiment"]
        self.name: str = self._meta["name"]
        self.summary: MutableMapping[str, Any] = RunSummary(self)
        self._outages = Outages(f"run {self.id}")
        local = self._output.files_dir
        self._media = MediaWriter(
            local,
            self._outages,
            self._restored.text_steps,
            self._restored.media_steps,
            None if isinstance(self._output, LocalOutput) else self._output.files_written,
        )
        del self._restored
        # The data file is opened on the first write: a run that records no data costs no file.
        self._data = self._output.data_file(self._outages, int(max_backlog_bytes))
        # The low-level API: threading.Thread.start() waits until the OS has scheduled the new
        # thread (about a millisecond on a busy machine, per run). Nothing joins this thread:
        # finish() writes what is pending itself, and the thread ends when it sees _stop.
        self._thread_alive = True
        _thread.start_new_thread(self._loop, ())
        self._git_known = threading.Event()
        self._find_git(Path.cwd())

    def _find_git(self, cwd: Path) -> None:
        """Record the git checkout around ``cwd`` in the metadata: at once when this process
        asked already, else from a thread of its own (``git status`` takes a while in a big
        repository; neither the caller nor the persisting thread waits for it)."""
        known = cached_git_info(cwd)
        if known is not False:
            self._meta["git"] = known
            self._git_known.set()
            return

        def ask() -> None:
            _leave_signals_to_the_main_thread()
            try:  # no lock: setting one key is atomic, and the next metadata write takes it
                self._meta["git"] = git_info(cwd)
                self._meta_dirty = True
            except Exception:  # a boundary: the checkout is a nicety, never a failure
                self._report_once("git", f"run {self.id}: cannot read the git checkout", True)
            finally:
                self._git_known.set()

        _thread.start_new_thread(ask, ())

    def _continue_from(self, restored: Restored) -> None:
        """Pick up a resumed run's tag ids, auto-steps and statistics.

        Ids whose name was lost to damage stay taken (None), so a new tag never reuses one.
        """
        names = list(restored.tag_names)
        names.extend([None] * (restored.max_tag_id + 1 - len(names)))
        self._tag_names = names
        self._tags_written = len(names)
        for tag_id, tag in enumerate(names):
            if tag is not None:
                self._bufs[tag] = _TagBuffer(tag_id, restored.next_steps.get(tag, 0))
        self._stats = restored.stats
        self._restored = restored

    # ------------------------------------------------------------------ hot path

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Record one scalar. ``step=None`` continues the tag: its last step + 1 (0 at first)."""
        buf = self._bufs.get(key)
        if value.__class__ is not float:
            value = to_float(key, value)
        if step is not None and (step.__class__ is not int or not 0 <= step <= MAX_STEP):
            step = to_step(key, step)
        if buf is None:
            buf = self._new_tag(key)
        if step is None:
            if self._rows:
                self._fold_row_steps()
            step = buf.next_step
            if step > MAX_STEP:
                raise ValueError(f"tag {key!r} has reached the largest step, {MAX_STEP}")
        buf.next_step = step + 1
        points = buf.points
        now = time.time()
        points.extend((step, value, now))
        if now > self._due:
            self._catch_up()
        if len(points) >= self._max_flat:
            self._relieve(buf)

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record several scalars that share one wall time (and ``step``, when given)."""
        if step.__class__ is int and 0 <= step <= MAX_STEP and metrics.__class__ is dict:  # type: ignore[operator]
            keys = tuple(metrics)
            known = self._keysets.get(keys)
            values = list(metrics.values())  # type: ignore[union-attr]
            if set(map(type, values)) != _ONLY_FLOAT:
                values = [to_float(k, v) for k, v in zip(keys, values, strict=True)]
            if known is None:
                self._register_keyset(keys)
            rows = self._rows
            now = time.time()
            rows.append((keys, step, now, values))  # type: ignore[arg-type]
            if now > self._due:
                self._catch_up()
            if len(rows) >= self._max_rows:
                self._relieve_rows()
            return
        if not isinstance(metrics, Mapping):
            raise TypeError(f"log() takes a mapping of tag -> value, got {type(metrics).__name__}")
        if step is not None:
            step = to_step("<log>", step)
        # Check everything before storing anything: a rejected call stores nothing.
        checked = [(check_tag(key), to_float(key, value)) for key, value in metrics.items()]
        bufs = self._bufs
        if step is None:
            for key, _ in checked:
                seen = bufs.get(key)
                if seen is not None and seen.next_step > MAX_STEP:
                    raise ValueError(f"tag {key!r} has reached the largest step, {MAX_STEP}")
        if self._rows:
            self._fold_row_steps()
        wall = time.time()
        for key, value in checked:
            buf = bufs.get(key)
            if buf is None:
                buf = self._new_tag(key)
            at = buf.next_step if step is None else step
            buf.next_step = at + 1
            buf.points.extend((at, value, wall))
            if len(buf.points) >= self._max_flat:
                self._relieve(buf)

    def _register_keyset(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            check_tag(key)
        bufs = []
        for key in keys:
            buf = self._bufs.get(key)
            bufs.append(buf if buf is not None else self._new_tag(key))
        self._keysets[keys] = tuple(bufs)

    def _fold_row_steps(self) -> None:
        """Bring auto-step counters up to date with rows not yet persisted."""
        for keys, step, _wall, _values in list(self._rows):
            for buf in self._keysets[keys]:
                buf.next_step = step + 1

    def _relieve_rows(self) -> None:
        if self._thread_alive:
            deadline = time.monotonic() + self._max_block
            while len(self._rows) >= self._max_rows and time.monotonic() < deadline:
                self._wake.set()
                time.sleep(0.001)
        if len(self._rows) >= self._max_rows:
            row = self._rows.pop()
            self.dropped += len(row[0])
            self._report_once(
                "dropped",
                f"run {self.id}: the writer cannot keep up (or cannot write); dropped a row of "
                f"{len(row[0])} point(s) at step {row[1]}",
            )

    def _new_tag(self, key: str) -> _TagBuffer:
        check_tag(key)
        with self._io_lock:
            buf = self._bufs.get(key)
            if buf is None:
                buf = _TagBuffer(len(self._tag_names))
                self._tag_names.append(key)
                self._bufs[key] = buf
        return buf

    def _relieve(self, buf: _TagBuffer) -> None:
        """Backpressure: a tag's pending points reached ``max_pending``."""
        if self._backpressure == "block" and self._thread_alive:
            deadline = time.monotonic() + self._max_block
            while len(buf.points) >= self._max_flat and time.monotonic() < deadline:
                self._wake.set()
                time.sleep(0.001)
        excess = (len(buf.points) - self._max_flat) // 3 + 1
        if excess > 0:
            del buf.points[-3 * excess :]
            self.dropped += excess
            self._report_once(
                "dropped",
                f"run {self.id}: the writer cannot keep up (or cannot write); dropped {excess} "
                f"point(s) of tag {self._tag_names[buf.tag_id]!r} (max_pending={self._max_pending}); "
                "the run will be marked as having lost data",
            )

    # ------------------------------------------------------------------ rarer kinds

    def _check_open(self) -> None:
        if self._finished:
            raise finished_error(self.id)

    def log_points(self, tag: str, steps: Any, values: Any, wall_times: Any) -> None:
        """Record many points of one tag at once, with their own wall times (importers, replays).

        ``steps`` (integers in 0..2**63-1), ``values`` (reals) and ``wall_times`` (finite seconds
        since the epoch) are equal-length sequences or arrays, stored in the order given. The
        whole call is checked first (a rejected call stores nothing) and persisted before it
        returns, after everything logged before it; the tag's automatic step continues after the
        largest step given.
        """
        self._check_open()
        check_tag(tag)
        columns = _point_arrays(tag, steps, values, wall_times)
        buf = self._bufs.get(tag)
        if buf is None:
            buf = self._new_tag(tag)
        self._persist()
        if not len(columns[0]):
            return
        with self._io_lock:
            self._check_open()
            for start in range(0, len(columns[0]), _POINTS_PER_RECORD):
                end = start + _POINTS_PER_RECORD
                piece = (columns[0][start:end], columns[1][start:end], columns[2][start:end], None)
                block = self._guarded(buf.tag_id, [piece])
                framed = self._guarded_frame([block]) if block is not None else None
                if framed is not None:
                    self._data.add([Pending(framed, points=len(piece[0]))])
            buf.next_step = max(buf.next_step, int(columns[0].max()) + 1)
            self._data.write()
            self._meta_dirty = True

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record hyper-parameters (merged into earlier ones; nested mappings allowed)."""
        self._check_open()
        if not isinstance(params, Mapping):
            raise TypeError(f"log_params() takes a mapping, got {type(params).__name__}")
        clean = storable(dict(params), "params")
        self._meta["params"].update(clean)
        self._meta_dirty = True

    def set_tags(self, tags: Sequence[str] | Mapping[str, str]) -> None:
        self._check_open()
        self._meta["tags"].update(_tags_dict(tags))
        self._meta_dirty = True

    def log_text(
        self, tag: str, text: str, step: int | None = None, wall_time: float | None = None
    ) -> None:
        """Record a piece of text; ``step=None`` continues the tag; ``wall_time`` (seconds since
        the epoch, default now) for text that happened earlier, as importers bring it."""
        self._check_open()
        self._media.log_text(tag, text, step, wall_time)

    def log_figure(
        self, tag: str, fig: Any, step: int | None = None, interactive: bool = True
    ) -> None:
        """Record a matplotlib or plotly figure: a PNG rendering, plotly JSON for an interactive
        view, and the pickled object for :meth:`RunView.load_figure`."""
        self._check_open()
        self._media.log_figure(tag, fig, step, interactive)

    def log_image(
        self,
        tag: str,
        image: Any,
        step: int | None = None,
        fps: float = 10.0,
        wall_time: float | None = None,
    ) -> None:
        """Record an image: an HxW[xC] or CxHxW array, a PIL image, a T×H×W×C array (as an
        animated GIF), or the path of a .png/.jpg/.gif/.webp file; ``wall_time`` as for
        :meth:`log_text`."""
        self._check_open()
        self._media.log_image(tag, image, step, fps, wall_time)

    def log_video(
        self,
        tag: str,
        frames: Any,
        fps: float = 30.0,
        step: int | None = None,
        *,
        format: Literal["mp4", "gif"] = "mp4",
        max_frames: int = 1000,
        max_size: int | None = 320,
    ) -> None:
        """Record a video: T×H×W[×C] frames (an array, or an iterable of arrays / PIL images) as
        an H.264 MP4 (needs ``labtrack[media]``) or, with ``format="gif"``, an animated GIF.

        Only the first ``max_frames`` frames are kept and each is downscaled so its longer side
        is at most ``max_size`` pixels (None keeps the size): a 500-step 600×400 CartPole episode
        becomes tens of kilobytes. ``RunView.videos(tag)`` reads them back."""
        self._check_open()
        self._media.log_video(tag, frames, step, fps, format, max_frames, max_size)

    def log_artifact(
        self,
        path: str | Path,
        name: str | None = None,
        kind: ArtifactKind = "other",
        metadata: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> Path:
        """Copy a file or folder into the run's ``artifacts/`` and record it; returns the copy
        (which does not exist when the copy could not be written: that is reported, not raised)."""
        self._check_open()
        return self._media.log_artifact(path, name, kind, metadata, step)

    def save_file(self, path: str | Path) -> None:
        """Make a file that other code wrote under the run directory (a checkpoint, a report)
        part of the run wherever the run is recorded: a run written from a node that cannot
        see its store sends the file there (it must be complete; call again after it changes).
        A local run needs nothing, so there this only checks the path."""
        self._check_open()
        file = Path(path).absolute()
        folder = self._output.files_dir  # the run directory, as this machine has it
        if not file.is_file() or not file.is_relative_to(folder):
            raise ValueError(f"save_file() takes a file inside {folder}, got {str(path)!r}")
        if not isinstance(self._output, LocalOutput):
            self._output.files_written([file])

    # ------------------------------------------------------------------ persisting

    def _loop(self) -> None:
        """Persist by the deadline ``_due`` (see the module docstring for the crash window)."""
        _leave_signals_to_the_main_thread()
        try:
            while not self._stop.is_set():
                delay = self._due - time.time()
                if delay > 0:
                    self._wake.wait(min(delay, self._flush_interval))
                    if self._due - time.time() > 0 and not self._wake.is_set():
                        continue  # a persist by the caller moved the deadline
                self._wake.clear()
                try:
                    self._persist()
                except Exception:  # the one boundary: a writer bug must not kill training
                    self._report_once(
                        "writer", f"run {self.id}: unexpected error while persisting", exc_info=True
                    )
        finally:
            self._thread_alive = False

    def _catch_up(self) -> None:
        """The caller's thread persists itself: the deadline passed and the background thread
        did not start (a training loop holding the GIL starves it). See the module docstring."""
        try:
            self._persist()
        except Exception:  # the one boundary, as in _loop
            self._report_once(
                "writer", f"run {self.id}: unexpected error while persisting", exc_info=True
            )

    def flush(self) -> None:
        """Persist everything logged so far; when it returns, readers can see it (or, while the
        disk refuses writes, it is kept in memory and the outage has been reported)."""
        self._persist(write_meta=True)
        self._data.settle()  # a run recorded through another node: until that node has it

    def _persist(self, write_meta: bool = False) -> None:
        with self._io_lock:
            if self._finished:  # finish() wrote everything and closed the file
                return
            started = time.time()
            # The next persist must start early enough to end within the crash window.
            self._due = started + self._flush_interval - self._lead - _COST_MARGIN * self._cost
            self._data.add(self._encode_pending())
            if self._data.pending and self._data.write():
                self._meta_dirty = True
            now = time.time()
            if now - self._last_heartbeat >= HEARTBEAT_EVERY:
                self._meta["heartbeat"] = now
                self._last_heartbeat = now
                self._meta_dirty = True
            if self._meta_dirty and (write_meta or now - self._last_meta >= _META_EVERY):
                self._write_meta()
            self._cost = max(time.time() - started, 0.9 * self._cost)  # rises at once

    def _encode_pending(self) -> list[Pending]:
        """Frame everything logged since the last persist, tag table first.

        Guarded per tag: whatever cannot be encoded loses only its own points (counted and
        reported with the traceback), never other tags or a tag's name.
        """
        out: list[Pending] = []
        if self._tags_written < len(self._tag_names):
            new = [
                (i, name)
                for i, name in enumerate(self._tag_names)
                if i >= self._tags_written and name is not None
            ]
            self._tags_written = len(self._tag_names)
            if new:
                out.append(Pending(rec.frame_json(rec.KIND_TAGS, new), droppable=False))
        blocks = []
        for tag_id, pieces in self._take_points().items():
            block = self._guarded(tag_id, pieces)
            if block is not None:
                blocks.append(block)
        if blocks:
            framed = self._guarded_frame(blocks)
            if framed is not None:
                out.append(Pending(framed, points=sum(len(b[2]) for b in blocks)))
            self._meta_dirty = True
        out.extend(self._media.take_records())
        return out

    def _guarded(self, tag_id: int, pieces: list[_Piece]) -> Any:
        """One tag's block, or None when it cannot be encoded (its points counted as lost)."""
        try:
            block = _merge(tag_id, pieces)
            bounds = pieces[0][3] if len(pieces) == 1 else None
            update_stats(self._stats, str(self._tag_names[tag_id]), block[1], block[2], bounds)
            return block
        except Exception:  # see _encode_pending: one tag's bad points must not cost the rest
            lost = sum(len(p[1]) for p in pieces)
            self._lost_encoding += lost
            self._report_once(
                f"encode-{tag_id}",
                f"run {self.id}: cannot encode {lost} point(s) of tag "
                f"{self._tag_names[tag_id]!r}; they are dropped",
                exc_info=True,
            )
            return None

    def _guarded_frame(self, blocks: list[Any]) -> bytes | None:
        try:
            return rec.frame_scalars(blocks)
        except Exception:  # pragma: no cover - every block was built from checked arrays
            self._report_once("frame", f"run {self.id}: cannot frame a record", exc_info=True)
            self._lost_encoding += sum(len(b[2]) for b in blocks)
            return None

    def _take_points(self) -> dict[int, list[_Piece]]:
        """Move pending points out of the buffers (safe against concurrent appends).

        The rows of one ``log()`` key set become one table whose columns share their steps and
        wall times, with min/max computed for all its tags at once (see ``frame_scalars`` on why
        few numpy calls matter).
        """
        columns: dict[int, list[_Piece]] = {}
        for buf in list(self._bufs.values()):
            count = len(buf.points)
            if count:
                points = buf.points[:count]
                del buf.points[:count]
                columns.setdefault(buf.tag_id, []).append((*_point_columns(points), None))
        count = len(self._rows)
        if count:
            rows = self._rows[:count]
            del self._rows[:count]
            groups: dict[tuple[str, ...], list[tuple[int, float, list[Any]]]] = {}
            for keys, step, wall, values in rows:
                groups.setdefault(keys, []).append((step, wall, values))
            for keys, group in groups.items():
                # map and zip, not comprehensions: see _encode_walls in _records.
                steps = list(map(_FIRST, group))
                walls = list(map(_SECOND, group))
                by_tag = list(zip(*map(_THIRD, group), strict=True))  # one column per tag
                last = steps[-1] + 1
                for j, buf in enumerate(self._keysets[keys]):
                    buf.next_step = max(buf.next_step, last)
                    column = list(by_tag[j])
                    piece = (steps, column, walls, rec.bounds(column))
                    columns.setdefault(buf.tag_id, []).append(piece)
        return columns

    def _lost(self) -> dict[str, Any] | None:
        """The metadata's ``lost`` entry: what this run could not record, or None."""
        points = self._data.lost_points + self.dropped + self._lost_encoding
        if not (points or self._media.lost):
            return None
        reasons = []
        if self._data.lost_points:
            reasons.append(
                f"{self._data.lost_points} point(s) could not be written to the data file "
                f"({self._data.last_error or 'write errors'})"
            )
        if self.dropped:
            reasons.append(f"{self.dropped} point(s) dropped by backpressure")
        if self._lost_encoding:
            reasons.append(f"{self._lost_encoding} point(s) could not be encoded")
        if self._media.lost:
            reasons.append(f"{self._media.lost} media or artifact file(s) could not be written")
        return {"points": points, "media": self._media.lost, "reason": "; ".join(reasons)}

    def _write_meta(self, fsync: bool = False) -> None:
        self._meta["metrics"] = metrics_document(self._stats)
        self._meta["data_size"] = self._data.size
        lost = self._lost()
        if lost is not None:
            self._meta["lost"] = lost
        try:
            self._output.write_meta(self._meta, fsync)
        except OSError as exc:
            self._outages.failed(
                "metadata", f"cannot write {self._meta_dir / META_FILE}: {exc}", cause=exc.errno
            )
            return
        self._outages.ok("metadata")
        self._meta_dirty = False
        self._last_meta = time.time()

    def _report_once(self, key: str, message: str, exc_info: bool = False) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.error(message, exc_info=exc_info)

    # ------------------------------------------------------------------ closing

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def remote(self) -> bool:
        """Whether this run is recorded through another node (its store is not on this one)."""
        return not isinstance(self._output, LocalOutput)

    def finish(
        self,
        status: str = "completed",
        error: BaseException | Mapping[str, Any] | None = None,
        *,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> None:
        """Persist everything, record ``status`` and the end time, and stop the writer thread.

        ``error`` says why a run failed: the exception (its type, message and traceback are
        recorded) or a mapping with ``type``, ``message`` and ``traceback``; readers get it as
        :attr:`RunView.error <labtrack.store.RunView.error>`.

        ``start_time`` / ``end_time`` (seconds since the epoch) record when a run recorded
        elsewhere really started and ended (importers); by default the run's own start and now.

        Idempotent: later calls do nothing. It never waits for the writer thread: it writes
        what is pending itself.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
        error_doc = error_document(error) if error is not None else None
        self._git_known.wait(_GIT_WAIT_SECONDS)  # a short run still records its checkout
        with self._io_lock:
            if self._finished:
                return
            # Under the I/O lock: the writer thread can no longer write (it checks this flag
            # under the same lock), so there is no need to wait for it to end.
            self._finished = True
            self._stop.set()
            self._wake.set()
            self._data.add(self._encode_pending())
            self._bufs = _Finished(self.id)
            self._keysets = _Finished(self.id)
            unwritten = self._write_or_give_up()
            self._data.close(self._durable)
            lost = self._lost()
            if lost is not None and status == "completed":
                status = "failed"
                error_doc = {"type": "DataLoss", "message": lost["reason"], "traceback": ""}
            self._meta["status"] = status
            self._meta["end_time"] = time.time() if end_time is None else float(end_time)
            if start_time is not None:
                self._meta["start_time"] = float(start_time)
            if error_doc is not None:
                self._meta["error"] = error_doc
            self._write_meta(fsync=self._durable)
            with contextlib.suppress(OSError):
                self._output.release(self._claim_number)
        if unwritten:
            raise DataLossError(
                f"run {self.id}: {unwritten} point(s) could not be written to {self._data.path} "
                f"({self._data.last_error}); everything before them is on disk, and the run is "
                "marked as having lost data"
            )

    def _write_or_give_up(self) -> int:
        """Write the backlog, retrying briefly; the points given up on (0 when all written)."""
        deadline = time.monotonic() + _FINISH_RETRY_SECONDS
        while not self._data.write():
            if time.monotonic() >= deadline:
                return self._data.drop_backlog()
            time.sleep(0.05)
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.experiment}/{self.name} id={self.id} dir={self.dir}>"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError(
            f"a run being written cannot be sent to another process (one writer per run): "
            f"send its directory ({self.dir}) and read it there with labtrack.store.open_run(), "
            "or start a run in the worker, or send events to a labtrack Tracker"
        )


def _leave_signals_to_the_main_thread() -> None:
    """Block the signals a user sends a training process (SIGTERM, SIGINT, SIGHUP) in the
    calling thread, one of ours: Python runs handlers only on the main thread, and a signal the
    kernel delivers to another thread does not interrupt the main thread's ``time.sleep`` or
    blocking read, so a SIGTERM could go unnoticed for as long as the main thread waits."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, _USER_SIGNALS)


_USER_SIGNALS = {
    s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT", "SIGHUP")) if s is not None
}


def error_document(error: BaseException | Mapping[str, Any]) -> dict[str, str]:
    """The metadata form of why a run failed: ``{"type", "message", "traceback"}``."""
    if isinstance(error, BaseException):
        import traceback

        return {
            "type": type(error).__qualname__,
            "message": str(error),
            "traceback": "".join(
                traceback.format_exception(type(error), error, error.__traceback__)
            ),
        }
    if not isinstance(error, Mapping):
        raise TypeError(f"error must be an exception or a mapping, got {type(error).__name__}")
    return {
        "type": str(error.get("type") or "Error"),
        "message": str(error.get("message") or ""),
        "traceback": str(error.get("traceback") or ""),
    }


def _tags_dict(tags: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        out = {}
        for key, value in tags.items():
            check_tag(key, "tag name")
            out[key] = str(value)
        return out
    if isinstance(tags, str):
        tags = [tags]
    return {check_tag(t, "tag name"): "" for t in tags}
