"""RunWriter: the one writer of a run directory.

Design (see DESIGN.md, "A direction for the store"):

* The caller's thread does almost nothing: ``log_metric`` appends a ``(step, value, wall)`` tuple
  to the tag's in-memory list (one atomic ``list.append`` under the GIL, no lock).
* A background thread wakes every ``flush_interval`` seconds, takes what the lists hold
  (``len`` then ``del lst[:n]``, both atomic, so concurrent appends are never lost), and appends
  one columnar record to ``.labtrack/data.ltr``. ``flush()`` does the same on the caller's thread.
* Memory is bounded: a tag with ``max_pending`` unpersisted points makes the caller wait for the
  writer (``backpressure="block"``, up to ``max_block_seconds``) or drops the point and counts it
  (``"drop"``, or when waiting did not help).
* I/O errors (disk full, permissions) are reported once through the ``labtrack`` logger and
  retried at the next flush; the training loop never sees them. A partial write is truncated
  away so the data file never holds garbage between good records.

Rare, larger things (text, figures, images, artifacts) are written by the caller's thread as files
under the run directory and announced by a small JSON record at the next flush.
"""

from __future__ import annotations

import _thread
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import StoreError
from . import _records as rec
from ._claim import Restored, claim
from ._files import copy_hashing, is_inside, safe_name
from ._meta import (
    ARTIFACTS_DIR,
    DATA_FILE,
    FINAL_STATUSES,
    HEARTBEAT_EVERY,
    MEDIA_DIR,
    META_DIR,
    META_FILE,
    write_json_atomic,
)
from ._summary import RunSummary, TagStats, metrics_document, update_stats
from ._values import check_tag, storable, to_float, to_step

log = logging.getLogger("labtrack")

ArtifactKind = Literal["model", "checkpoint", "data", "figure", "other"]
ARTIFACT_KINDS: tuple[str, ...] = ("model", "checkpoint", "data", "figure", "other")
Backpressure = Literal["block", "drop"]

_POINT = np.dtype([("s", "<i8"), ("v", "<f8"), ("w", "<f8")])
_ONLY_FLOAT = {float}
_META_EVERY = 1.0  # seconds between metadata rewrites while running (summary, heartbeat)
_MAX_RETRY_BYTES = 256 * 1024 * 1024


class _TagBuffer:
    """Unpersisted points of one tag, plus the tag's auto-step counter."""

    __slots__ = ("next_step", "points", "tag_id")

    def __init__(self, tag_id: int, next_step: int = 0) -> None:
        self.tag_id = tag_id
        self.next_step = next_step
        self.points: list[tuple[int, float, float]] = []


class _Finished(dict[Any, Any]):
    """Replaces the writer's look-up tables after ``finish()``: logging then raises, at no cost
    before (the hot path does one ``.get`` it does anyway)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        raise StoreError(f"run {self.run_id} is finished; start a new run to log more")


class RunWriter:
    """Writes one run directory; see the module docstring for the design.

    Options: ``flush_interval`` (seconds between background persists), ``max_pending`` (points
    per tag held in memory before backpressure), ``backpressure`` ("block" waits up to
    ``max_block_seconds`` for the writer, "drop" counts and drops), ``durable`` (fsync the data
    and metadata at ``finish()`` so they survive a power loss, about 1 ms; a process crash never
    needs it).
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
        self._meta_dir = self.dir / META_DIR
        self._flush_interval = float(flush_interval)
        self._max_pending = int(max_pending)
        self._backpressure = backpressure
        self._max_block = float(max_block_seconds)
        self._max_rows = max(1, self._max_pending // 16)
        self._durable = durable

        self._bufs: dict[str, _TagBuffer] = {}
        self._tag_names: list[str] = []
        self._tags_written = 0
        self._stats: TagStats = {}
        # log(dict, step=int) fast path: one row per call, exploded into columns by the writer
        self._rows: list[tuple[tuple[str, ...], int, float, list[Any]]] = []
        self._keysets: dict[tuple[str, ...], tuple[_TagBuffer, ...]] = {}
        self._text: list[tuple[str, int, float, str]] = []
        self._text_steps: dict[str, int] = {}
        self._media_steps: dict[tuple[str, str], int] = {}
        self._events: list[tuple[int, dict[str, Any]]] = []  # (kind, record) for media/artifacts
        self._retry = b""
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reported: set[str] = set()
        self.dropped = 0
        self._finished = False
        self._pid_owner = os.getpid()
        self._meta_dirty = False
        self._last_meta = 0.0
        self._last_heartbeat = 0.0

        self._meta, restored = claim(self.dir, experiment, name, clean_config, clean_tags)
        self._continue_from(restored)
        self.id: str = self._meta["id"]
        self.experiment: str = self._meta["experiment"]
        self.name: str = self._meta["name"]
        self.summary: MutableMapping[str, Any] = RunSummary(self)
        # The data file is opened on the first write: a run that records no data costs no file.
        self._fd: int | None = None
        self._good_size = 0
        # The low-level API: threading.Thread.start() waits until the OS has scheduled the new
        # thread (about a millisecond on a busy machine, per run). Nothing joins this thread:
        # finish() writes what is pending itself, and the thread ends when it sees _stop.
        self._thread_alive = True
        _thread.start_new_thread(self._loop, ())

    def _continue_from(self, restored: Restored) -> None:
        """Pick up a resumed run's tag ids, auto-steps and statistics."""
        self._tag_names = list(restored.tag_names)
        self._tags_written = len(self._tag_names)
        for tag_id, tag in enumerate(self._tag_names):
            self._bufs[tag] = _TagBuffer(tag_id, restored.next_steps.get(tag, 0))
        self._stats = restored.stats
        self._text_steps = dict(restored.text_steps)
        self._media_steps = dict(restored.media_steps)

    # ------------------------------------------------------------------ hot path

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Record one scalar. ``step=None`` continues the tag: its last step + 1 (0 at first)."""
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._new_tag(key)
        if value.__class__ is not float:
            value = to_float(key, value)
        if step is None:
            if self._rows:
                self._fold_row_steps()
            step = buf.next_step
        elif step.__class__ is not int or step < 0:
            step = to_step(key, step)
        buf.next_step = step + 1
        points = buf.points
        points.append((step, value, time.time()))
        if len(points) >= self._max_pending:
            self._relieve(buf)

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record several scalars that share one wall time (and ``step``, when given)."""
        if step.__class__ is int and step >= 0 and metrics.__class__ is dict:  # type: ignore[operator]
            keys = tuple(metrics)
            if self._keysets.get(keys) is None:
                self._register_keyset(keys)
            values = list(metrics.values())  # type: ignore[union-attr]
            if set(map(type, values)) != _ONLY_FLOAT:
                values = [to_float(k, v) for k, v in zip(keys, values, strict=True)]
            rows = self._rows
            rows.append((keys, step, time.time(), values))  # type: ignore[arg-type]
            if len(rows) >= self._max_rows:
                self._relieve_rows()
            return
        if not isinstance(metrics, Mapping):
            raise TypeError(f"log() takes a mapping of tag -> value, got {type(metrics).__name__}")
        if step is not None:
            step = to_step("<log>", step)
        if self._rows:
            self._fold_row_steps()
        wall = time.time()
        bufs = self._bufs
        for key, value in metrics.items():
            buf = bufs.get(key)
            if buf is None:
                buf = self._new_tag(key)
            if value.__class__ is not float:
                value = to_float(key, value)
            at = buf.next_step if step is None else step
            buf.next_step = at + 1
            buf.points.append((at, value, wall))
            if len(buf.points) >= self._max_pending:
                self._relieve(buf)

    def _register_keyset(self, keys: tuple[str, ...]) -> None:
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
            while len(buf.points) >= self._max_pending and time.monotonic() < deadline:
                self._wake.set()
                time.sleep(0.001)
        excess = len(buf.points) - self._max_pending + 1
        if excess > 0:
            del buf.points[-excess:]
            self.dropped += excess
            self._report_once(
                "dropped",
                f"run {self.id}: the writer cannot keep up (or cannot write); dropped {excess} "
                f"point(s) of tag {self._tag_names[buf.tag_id]!r} (max_pending={self._max_pending})",
            )

    # ------------------------------------------------------------------ rarer kinds

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record hyper-parameters (merged into earlier ones; nested mappings allowed)."""
        if not isinstance(params, Mapping):
            raise TypeError(f"log_params() takes a mapping, got {type(params).__name__}")
        clean = storable(dict(params), "params")
        self._meta["params"].update(clean)
        self._meta_dirty = True

    def set_tags(self, tags: Sequence[str] | Mapping[str, str]) -> None:
        self._meta["tags"].update(_tags_dict(tags))
        self._meta_dirty = True

    def log_text(self, tag: str, text: str, step: int | None = None) -> None:
        check_tag(tag)
        if not isinstance(text, str):
            raise TypeError(f"text for tag {tag!r} must be a str, got {type(text).__name__}")
        at = self._text_steps.get(tag, 0) if step is None else to_step(tag, step)
        self._text_steps[tag] = at + 1
        self._text.append((tag, at, time.time(), text))

    def _media_step(self, kind: str, tag: str, step: int | None) -> int:
        return self._media_steps.get((kind, tag), 0) if step is None else to_step(tag, step)

    def _media_file(self, kind: str, tag: str, step: int, suffix: str) -> Path:
        folder = self._meta_dir / MEDIA_DIR / kind / safe_name(tag)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{step}{suffix}"

    def log_figure(
        self, tag: str, fig: Any, step: int | None = None, interactive: bool = True
    ) -> None:
        """Record a matplotlib or plotly figure: the object (pickled) and a PNG rendering."""
        from ._media import figure_files

        check_tag(tag)
        at = self._media_step("figure", tag, step)
        files = figure_files(tag, fig, lambda suffix: self._media_file("figure", tag, at, suffix))
        self._media_steps[("figure", tag)] = at + 1
        self._events.append(
            (
                rec.KIND_MEDIA,
                {
                    "kind": "figure",
                    "tag": tag,
                    "step": at,
                    "wall": time.time(),
                    "interactive": bool(interactive),
                    **self._relative(files),
                },
            )
        )

    def log_image(self, tag: str, image: Any, step: int | None = None, fps: float = 10.0) -> None:
        """Record an image: an HxW[xC] or CxHxW array, a PIL image, a T×H×W×C array (as an
        animated GIF), or the path of a .png/.jpg/.gif/.webp file."""
        from ._media import image_file

        check_tag(tag)
        at = self._media_step("image", tag, step)
        path = image_file(
            tag, image, fps, lambda suffix: self._media_file("image", tag, at, suffix)
        )
        self._media_steps[("image", tag)] = at + 1
        self._events.append(
            (
                rec.KIND_MEDIA,
                {
                    "kind": "image",
                    "tag": tag,
                    "step": at,
                    "wall": time.time(),
                    **self._relative({"path": path}),
                },
            )
        )

    def log_artifact(
        self,
        path: str | Path,
        name: str | None = None,
        kind: ArtifactKind = "other",
        metadata: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> Path:
        """Copy a file or folder into the run's ``artifacts/`` and record it; returns the copy."""
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"artifact kind {kind!r} is not one of {', '.join(ARTIFACT_KINDS)}")
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"artifact path {str(path)!r} does not exist")
        name = name or source.name
        check_tag(name, "artifact name")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"artifact name {name!r} must be a relative path inside the run")
        clean_meta = storable(dict(metadata or {}), "metadata")
        dest = self.dir / ARTIFACTS_DIR / name
        inside = is_inside(source.absolute(), self.dir)
        target = source.absolute() if inside else dest
        if not inside:
            dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            if not inside:
                shutil.copytree(source, dest, dirs_exist_ok=True)
            size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
            digest = None
        else:
            size, digest = copy_hashing(source, None if inside else dest)
        self._events.append(
            (
                rec.KIND_ARTIFACT,
                {
                    "name": name,
                    "kind": kind,
                    "path": str(target.relative_to(self.dir)),
                    "size": size,
                    "sha256": digest,
                    "metadata": clean_meta,
                    "step": step,
                    "wall": time.time(),
                },
            )
        )
        return target

    def _relative(self, files: Mapping[str, Path | None]) -> dict[str, str | None]:
        return {
            k: (str(v.relative_to(self.dir)) if v is not None else None) for k, v in files.items()
        }

    # ------------------------------------------------------------------ persisting

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                try:
                    self._persist()
                except Exception:  # the one boundary: a writer bug must not kill training
                    self._report_once(
                        "writer", f"run {self.id}: unexpected error while persisting", exc_info=True
                    )
        finally:
            self._thread_alive = False

    def flush(self) -> None:
        """Persist everything logged so far; when it returns, readers can see it."""
        self._persist(write_meta=True)

    def _persist(self, write_meta: bool = False) -> None:
        with self._io_lock:
            if self._finished:  # finish() wrote everything and closed the file
                return
            chunk = self._encode_pending()
            if chunk or self._retry:
                self._append(self._retry + chunk)
            now = time.time()
            if now - self._last_heartbeat >= HEARTBEAT_EVERY:
                self._meta["heartbeat"] = now
                self._last_heartbeat = now
                self._meta_dirty = True
            if self._meta_dirty and (write_meta or now - self._last_meta >= _META_EVERY):
                self._write_meta()

    def _encode_pending(self) -> bytes:
        parts: list[bytes] = []
        if self._tags_written < len(self._tag_names):
            new = list(enumerate(self._tag_names))[self._tags_written :]
            parts.append(rec.frame_json(rec.KIND_TAGS, new))
            self._tags_written += len(new)
        columns = self._take_points()
        blocks = []
        for tag_id, pieces in columns.items():
            if len(pieces) == 1:
                steps, values, walls = pieces[0]
            else:  # the same tag came through log_metric and log(): restore logging order
                steps, values, walls = (np.concatenate(c) for c in zip(*pieces, strict=True))
                order = np.argsort(walls, kind="stable")
                steps, values, walls = steps[order], values[order], walls[order]
            blocks.append((tag_id, steps, values, walls))
            update_stats(self._stats, self._tag_names[tag_id], steps, values)
        if blocks:
            parts.append(rec.frame_scalars(blocks))
            self._meta_dirty = True
        if self._text:
            count = len(self._text)
            texts = self._text[:count]
            del self._text[:count]
            parts.append(rec.frame_json(rec.KIND_TEXT, texts))
        if self._events:
            count = len(self._events)
            events = self._events[:count]
            del self._events[:count]
            parts.extend(rec.frame_json(kind, item) for kind, item in events)
        return b"".join(parts)

    def _take_points(self) -> dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Move pending points out of the buffers (safe against concurrent appends)."""
        columns: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for buf in list(self._bufs.values()):
            count = len(buf.points)
            if count:
                points = buf.points[:count]
                del buf.points[:count]
                arr = np.array(points, dtype=_POINT)
                columns.setdefault(buf.tag_id, []).append((arr["s"], arr["v"], arr["w"]))
        count = len(self._rows)
        if count:
            rows = self._rows[:count]
            del self._rows[:count]
            groups: dict[tuple[str, ...], list[tuple[int, float, list[Any]]]] = {}
            for keys, step, wall, values in rows:
                groups.setdefault(keys, []).append((step, wall, values))
            for keys, group in groups.items():
                steps = np.fromiter((g[0] for g in group), np.int64, len(group))
                walls = np.fromiter((g[1] for g in group), np.float64, len(group))
                table = np.array([g[2] for g in group], dtype=np.float64)
                for j, buf in enumerate(self._keysets[keys]):
                    buf.next_step = max(buf.next_step, int(steps[-1]) + 1)
                    columns.setdefault(buf.tag_id, []).append((steps, table[:, j], walls))
        return columns

    def _append(self, data: bytes) -> None:
        try:
            if self._fd is None:
                path = self._meta_dir / DATA_FILE
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._good_size = os.fstat(self._fd).st_size
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self._recover_partial_write()
            if len(data) > _MAX_RETRY_BYTES:
                self.dropped += 1
                data = b""
            self._retry = data
            self._report_once(
                f"io-{exc.errno}",
                f"run {self.id}: cannot write {self.dir}: {exc}; "
                "keeping the data in memory and retrying",
            )
            return
        self._good_size += len(data)
        self._retry = b""
        if self._reported & {k for k in self._reported if k.startswith("io-")}:
            log.warning("run %s: writing to %s works again", self.id, self.dir)
            self._reported = {k for k in self._reported if not k.startswith("io-")}

    def _recover_partial_write(self) -> None:
        if self._fd is None:
            return
        try:
            if os.fstat(self._fd).st_size > self._good_size:
                os.ftruncate(self._fd, self._good_size)
        except OSError:
            pass

    def _write_meta(self, fsync: bool = False) -> None:
        self._meta["metrics"] = metrics_document(self._stats)
        try:
            write_json_atomic(self._meta_dir / META_FILE, self._meta, fsync=fsync)
        except OSError as exc:
            self._report_once(f"io-{exc.errno}", f"run {self.id}: cannot write metadata: {exc}")
            return
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

    def finish(self, status: str = "completed") -> None:
        """Persist everything, record ``status`` and the end time, and stop the writer thread.

        Idempotent: later calls do nothing. It never waits for the writer thread: it writes
        what is pending itself.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
        with self._io_lock:
            if self._finished:
                return
            # Under the I/O lock: the writer thread can no longer write (it checks this flag
            # under the same lock), so there is no need to wait for it to end.
            self._finished = True
            self._stop.set()
            self._wake.set()
            chunk = self._encode_pending()
            self._bufs = _Finished(self.id)
            self._keysets = _Finished(self.id)
            if chunk or self._retry:
                self._append(self._retry + chunk)
            if self._fd is not None:
                if self._durable:
                    try:
                        os.fsync(self._fd)
                    except OSError:
                        pass
                os.close(self._fd)
                self._fd = None
            self._meta["status"] = status
            self._meta["end_time"] = time.time()
            self._write_meta(fsync=self._durable)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.experiment}/{self.name} id={self.id} dir={self.dir}>"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError(
            f"a run being written cannot be sent to another process (one writer per run): "
            f"send its directory ({self.dir}) and read it there with labtrack.store.open_run(), "
            "or start a run in the worker, or send events to a labtrack Tracker"
        )


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
