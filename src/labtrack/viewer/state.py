"""What the server remembers between requests: the run list, short run handles, series cache.

Everything is read through :mod:`labtrack.store` (``Store``, ``RunView``) and nothing else.

- The run list is re-read from the store at most once per ``refresh_interval`` seconds, however
  many browsers poll, so thousands of runs cost one scan per interval.
- Each run gets a small integer handle on first sight that never changes while the server runs,
  so URLs stay short (``runs=3,17,42``) whatever the run directories are called.
- A run's ``RunView`` is kept across scans (it caches its decoded series). A run still
  ``running`` is refreshed (``RunView.refresh()``: new metadata, new tail of its data file) at
  most once per interval, so new points show up without reloading the page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._serve import DEFAULT_CACHE_MB
from .files import relative_to_root

if TYPE_CHECKING:
    from labtrack.store import RunView, Store

LIVE_STATUSES = frozenset({"running"})
log = logging.getLogger("labtrack.viewer")


@dataclass
class Series:
    """One scalar tag of one run, as float64 columns."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.steps.nbytes + self.values.nbytes + self.wall_times.nbytes)


@dataclass
class RunEntry:
    handle: int
    view: RunView
    path: str
    refreshed: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    row: dict[str, Any] | None = None  # its runs-table row, recomputed when the run changes
    digest: str = ""


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def flatten(mapping: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    out: dict[str, Any] = {}
    if not isinstance(mapping, dict):
        return out
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = _jsonable(value)
    return out


def _safe(get: Any, default: Any) -> Any:
    """Read one RunView attribute where a bad run must not stop a scan (status, end time)."""
    try:
        return get()
    except Exception:
        return default


def _status(view: Any) -> str:
    return str(_safe(lambda: view.status, "unreadable"))


def _end(view: Any) -> Any:
    return _safe(lambda: view.end_time, None)


def run_summary(entry: RunEntry) -> dict[str, Any]:
    """The JSON row of one run in the runs table.

    ``unreadable`` says why a run cannot be read; ``error`` is the one-line form of why a run
    failed (``"ValueError: bad lr"``; the traceback is in :func:`run_detail`, so that the table,
    re-sent whenever a run changes, stays small). A run that cannot be made into a row (a store
    newer than this viewer, or a bug) is logged with its traceback and listed as ``unreadable``
    with the reason: one bad run never hides the others.
    """
    try:
        return _row(entry)
    except Exception as exc:
        log.warning("run %s cannot be listed", entry.path, exc_info=True)
        return _unreadable_row(entry, f"{type(exc).__name__}: {exc}")


def _row(entry: RunEntry) -> dict[str, Any]:
    v = entry.view
    error = v.error
    return {
        "handle": entry.handle,
        "path": entry.path,
        "id": str(v.id or ""),
        "experiment": str(v.experiment or ""),
        "name": str(v.name or ""),
        "status": str(v.status),
        "unreadable": v.unreadable,
        "error": None if error is None else str(error),
        "start_time": v.start_time,
        "end_time": v.end_time,
        "duration": v.duration,
        "tags": _jsonable(v.tags),
        "config": flatten(v.config),
        "params": flatten(v.params),
        "summary": flatten(dict(v.summary)),
    }


def _unreadable_row(entry: RunEntry, reason: str) -> dict[str, Any]:
    return {
        "handle": entry.handle,
        "path": entry.path,
        "id": "",
        "experiment": "",
        "name": Path(entry.path).name,
        "status": "unreadable",
        "unreadable": reason,
        "error": None,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "tags": {},
        "config": {},
        "params": {},
        "summary": {},
    }


def run_detail(entry: RunEntry) -> dict[str, Any]:
    """One run's row plus what the table leaves out: ``failure`` (type, message and traceback of
    the exception that ended it, or None), the damage its reader found (``problems``), and where
    it ran (``host``, ``pid``, ``git`` = ``{"commit", "branch", "dirty"}`` or None)."""
    view = entry.view
    failure = view.error
    git = view.git
    return {
        **run_summary(entry),
        "failure": None
        if failure is None
        else {"type": failure.type, "message": failure.message, "traceback": failure.traceback},
        "problems": [str(p) for p in view.problems],
        "host": _text(view.host),
        "pid": view.pid if type(view.pid) is int else None,
        "git": _jsonable(git) if isinstance(git, dict) else None,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class ResultCache:
    """A small LRU of computed answers (downsampled whole-range series), bounded in entries."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class SeriesMemory:
    """Which decoded series the views hold, least recently used first, bounded in bytes.

    Every view keeps the series it decoded so that zooming and live updates cost no re-reading;
    without a bound, browsing a big store would keep all of it in memory (24 bytes per point).
    Past the budget the oldest series are released from their views and read again if asked
    for. The series being used is never released, so one series bigger than the budget works.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._sizes: OrderedDict[tuple[int, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, handle: int, tag: str, nbytes: int) -> list[tuple[int, str]]:
        """Record that ``(handle, tag)`` was just used and holds ``nbytes``; return the series
        to release (least recently used first) to get back under the budget."""
        key = (handle, tag)
        with self._lock:
            self.used += nbytes - self._sizes.get(key, 0)
            self._sizes[key] = nbytes
            self._sizes.move_to_end(key)
            evicted = []
            while self.used > self.budget and len(self._sizes) > 1:
                old, size = self._sizes.popitem(last=False)
                self.used -= size
                evicted.append(old)
            return evicted

    def forget(self, handle: int) -> None:
        """Stop counting a run's series (its directory is gone, and its view with it)."""
        with self._lock:
            for key in [k for k in self._sizes if k[0] == handle]:
                self.used -= self._sizes.pop(key)


class ViewerState:
    """The store being viewed, its runs by handle, and the series cache."""

    def __init__(
        self,
        root: Path,
        *,
        refresh_interval: float = 1.0,
        cache_mb: float = DEFAULT_CACHE_MB,
    ) -> None:
        from labtrack.store import Store

        if not cache_mb > 0:
            raise ValueError(f"cache_mb must be a positive number of megabytes, got {cache_mb!r}")
        self.root = root.resolve()
        self.store: Store = Store(self.root)
        self.refresh_interval = refresh_interval
        # keyed by (run, tag, x mode, buckets, series length): a growing run misses naturally
        self.downsampled = ResultCache()
        self.memory = SeriesMemory(int(cache_mb * 2**20))
        self._handles: dict[str, int] = {}
        self._entries: dict[int, RunEntry] = {}
        self._rows: list[dict[str, Any]] = []
        self._version = ""
        self._scanned = -math.inf
        self._interval = refresh_interval
        self._scanning = False
        self._paths: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- the run list -------------------------------------------------------------------------
    def runs(self) -> tuple[list[dict[str, Any]], str]:
        """Rows for the runs table and a version string that changes when any row changes.

        The first call scans the store; later calls answer at once from the last scan and, when
        it is older than the interval, start a re-scan in the background. The interval grows
        with the scan's own duration (thousands of runs), so scanning never takes more than
        about half of one core, however many browsers poll.
        """
        if not self._version:
            with self._lock:
                if not self._version:
                    self._timed_scan()
        elif time.monotonic() - self._scanned >= self._interval and not self._scanning:
            self._scanning = True
            threading.Thread(target=self._background_scan, daemon=True).start()
        return self._rows, self._version

    def _background_scan(self) -> None:
        try:
            with self._lock:
                self._timed_scan()
        except Exception:  # a failed scan keeps the last good list; the next one retries
            log.warning("scanning %s for runs failed", self.root, exc_info=True)
        finally:
            self._scanning = False

    def _timed_scan(self) -> None:
        started = time.monotonic()
        self._scan()
        self._scanned = time.monotonic()
        self._interval = max(self.refresh_interval, 1.0 * (self._scanned - started))

    def _key(self, run_dir: Any) -> str:
        raw = str(run_dir)
        key = self._paths.get(raw)
        if key is None:
            key = relative_to_root(self.root, Path(raw)) or raw
            self._paths[raw] = key
        return key

    def _scan(self) -> None:
        views = self.store.runs()
        entries: dict[int, RunEntry] = {}
        for view in views:
            path = self._key(view.dir)
            handle = self._handles.setdefault(path, len(self._handles) + 1)
            old = self._entries.get(handle)
            if old is None:
                entry = RunEntry(handle, view, path)
            else:
                # Keep the old view: it holds the run's decoded series. A live or changed run
                # reads its new metadata and only the new tail of its data file.
                entry = old
                before = _status(old.view)
                if (
                    before in LIVE_STATUSES
                    or before != _status(view)
                    or _end(view) != _end(old.view)
                ):
                    with old.lock:
                        old.view.refresh()
                        old.refreshed = time.monotonic()
                    old.row = None
            if entry.row is None or _status(entry.view) in LIVE_STATUSES:
                entry.row = run_summary(entry)
                entry.digest = hashlib.blake2b(
                    json.dumps(entry.row, sort_keys=True, default=str).encode(), digest_size=8
                ).hexdigest()
            entries[handle] = entry
        for gone in self._entries.keys() - entries.keys():
            self.memory.forget(gone)
        self._entries = entries
        self._rows = [e.row for e in entries.values() if e.row is not None]
        self._version = hashlib.blake2b(
            "".join(f"{h}:{e.digest};" for h, e in entries.items()).encode(), digest_size=8
        ).hexdigest()

    def entry(self, handle: int) -> RunEntry:
        """The run with this handle (scanning once if it is unknown yet); KeyError if none."""
        entry = self._entries.get(handle)
        if entry is None:
            self.runs()
            entry = self._entries[handle]
        return entry

    # -- live data ----------------------------------------------------------------------------
    def fresh_view(self, handle: int) -> RunView:
        """The run's view, refreshed if it is still being written and the interval has passed."""
        entry = self.entry(handle)
        if _safe(lambda: entry.view.status, "") in LIVE_STATUSES:
            with entry.lock:
                now = time.monotonic()
                if now - entry.refreshed >= self.refresh_interval:
                    entry.view.refresh()
                    entry.refreshed = now
        return entry.view

    def series_length(self, handle: int, tag: str) -> int:
        """The number of points of a series, without decoding (or re-reading) it."""
        view = self.fresh_view(handle)
        with self.entry(handle).lock:
            return view.scalar_count(tag)

    def series(self, handle: int, tag: str) -> Series:
        """A scalar series; an empty one when the run has no such tag.

        ``RunView`` keeps decoded series, so a second call costs no decoding; the least recently
        used ones are released past the memory budget (:class:`SeriesMemory`).
        """
        view = self.fresh_view(handle)
        entry = self.entry(handle)
        with entry.lock:
            if tag not in view.scalar_tags:
                empty = np.zeros(0)
                return Series(empty.astype(np.int64), empty, empty)
            raw = view.scalars(tag)
        series = Series(
            np.asarray(raw.steps, dtype=np.int64),
            np.asarray(raw.values, dtype=np.float64),
            np.asarray(raw.wall_times, dtype=np.float64),
        )
        for old_handle, old_tag in self.memory.note(handle, tag, series.nbytes):
            old = self._entries.get(old_handle)
            if old is not None:
                with old.lock:
                    old.view.release(old_tag)
        return series
