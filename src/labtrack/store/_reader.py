"""RunView: read one run directory, also while it is being written.

Reading is incremental: each call first reads whatever the data file gained since the last call
(a ``stat`` when nothing changed), so a reader sees new points without reopening anything. A torn
last record (a writer killed mid-write, or one still writing) is skipped quietly and read again
next time; corruption in the middle of the file stops reading there and is reported in
:attr:`RunView.problems`, never raised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import StoreError, UnreadableRunError
from . import _records as rec
from ._meta import DATA_FILE, META_DIR, effective_status, read_meta

if TYPE_CHECKING:
    import pandas as pd


class Scalars(NamedTuple):
    """One tag's series: ``steps, values, wall_times = view.scalars("loss")``."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray


class TextEntry(NamedTuple):
    step: int
    wall_time: float
    text: str


@dataclass(frozen=True)
class MediaEntry:
    """A logged figure or image. Paths are absolute; ``png`` is None where no PNG exists."""

    kind: str
    tag: str
    step: int
    wall_time: float
    path: Path  # the main file: the pickle for figures, the image for images
    png: Path | None = None
    plotly: Path | None = None
    interactive: bool = False
    static_reason: str | None = None  # why an interactive figure is shown as its PNG


@dataclass(frozen=True)
class ArtifactEntry:
    name: str
    kind: str
    path: Path
    size: int
    sha256: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    step: int | None = None
    wall_time: float | None = None


@dataclass(frozen=True)
class RunError:
    """Why a run failed (or was killed): the exception that ended it, as its writer recorded it.

    ``str(error)`` is the one-line form (``"ValueError: bad lr"``); ``traceback`` is the whole
    formatted traceback (empty when the run was failed without an exception).
    """

    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


def run_error(doc: Any) -> RunError | None:
    """The :class:`RunError` of a metadata ``error`` document, None when there is none."""
    if not isinstance(doc, Mapping):
        return None
    return RunError(
        type=str(doc.get("type") or "Error"),
        message=str(doc.get("message") or ""),
        traceback=str(doc.get("traceback") or ""),
    )


@dataclass
class _TagSeries:
    blocks: list[rec.BlockRef] = field(default_factory=list)  # where this tag's points are
    decoded: int = 0  # how many of ``blocks`` are in ``parts``
    parts: list[Scalars] = field(default_factory=list)


#: Where an artifact entry points when its record named a path outside the run (never a file).
ARTIFACTS_MISSING = ".labtrack/artifact-path-refused"

_READ_CHUNK = 1 << 20  # most bytes read at once when neighbouring blocks are read together
_READ_GAP = 64 * 1024  # other tags' bytes worth reading through rather than seeking past


def _read_groups(refs: list[rec.BlockRef]) -> list[list[rec.BlockRef]]:
    """Split blocks (in file order) into runs read with one call each: neighbours closer than
    ``_READ_GAP`` whose span stays under ``_READ_CHUNK`` (a bigger block is a group alone)."""
    groups: list[list[rec.BlockRef]] = []
    for ref in refs:
        if groups:
            group = groups[-1]
            prev = group[-1]
            near = ref.offset - (prev.offset + prev.length) <= _READ_GAP
            if near and ref.offset + ref.length - group[0].offset <= _READ_CHUNK:
                group.append(ref)
                continue
        groups.append([ref])
    return groups


def _will_need(fh: Any, groups: list[list[rec.BlockRef]]) -> None:
    """Ask the kernel to start reading every group now: on a cold disk the reads then overlap
    with checking and decoding the first blocks, instead of waiting for one read at a time."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None or len(groups) < 2:
        return
    for group in groups:
        start = group[0].offset
        advise(
            fh.fileno(), start, group[-1].offset + group[-1].length - start, os.POSIX_FADV_WILLNEED
        )


def _read_at(fh: Any, offset: int, into: memoryview) -> int:
    """Fill ``into`` from ``offset`` of an unbuffered file; fewer bytes only at end of file."""
    fh.seek(offset)
    got = 0
    while got < len(into):
        n = fh.readinto(into[got:])
        if not n:
            break
        got += n
    return got


class RunView:
    """A read-only view of one run directory; cheap to create, reads lazily."""

    def __init__(self, run_dir: str | Path, meta: dict[str, Any] | None = None) -> None:
        self.dir = Path(run_dir).absolute()
        #: Why the run cannot be read (corrupt or missing metadata), else None.
        self.unreadable: str | None = None
        self._problems: list[str] = []
        self._meta: dict[str, Any] = {}
        if meta is None:
            try:
                meta = read_meta(self.dir)
            except UnreadableRunError as exc:
                self.unreadable = str(exc)
                meta = {}
        self._meta = meta
        self._offset = 0
        self._tag_ids: dict[str, int] = {}
        self._series: dict[int, _TagSeries] = {}
        self._text: dict[str, list[TextEntry]] = {}
        self._media: dict[tuple[str, str], list[MediaEntry]] = {}
        self._artifacts: list[ArtifactEntry] = []

    # ------------------------------------------------------------------ metadata

    @property
    def id(self) -> str:
        return str(self._meta.get("id", self.dir.name))

    @property
    def name(self) -> str:
        return str(self._meta.get("name", self.dir.name))

    @property
    def experiment(self) -> str:
        return str(self._meta.get("experiment", ""))

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``failed``, ``killed``, ``crashed`` or ``unreadable``."""
        if self.unreadable:
            return "unreadable"
        status = effective_status(self._meta)
        if status == "crashed":  # the writer may have finished since this view read its metadata
            try:
                self._meta = read_meta(self.dir)
            except UnreadableRunError as exc:
                self.unreadable = str(exc)
                return "unreadable"
            status = effective_status(self._meta)
        return status

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._meta.get("config", {}))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._meta.get("params", {}))

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._meta.get("tags", {}))

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Per scalar tag: ``last``, ``min``, ``max``, ``count`` and last ``step``."""
        return {k: dict(v) for k, v in self._meta.get("metrics", {}).items()}

    @property
    def summary(self) -> dict[str, Any]:
        """The last value of every scalar tag, overridden by what the run set in its summary."""
        out: dict[str, Any] = {tag: m["last"] for tag, m in self._meta.get("metrics", {}).items()}
        out.update(self._meta.get("summary", {}))
        return out

    @property
    def start_time(self) -> float | None:
        return self._meta.get("start_time")

    @property
    def end_time(self) -> float | None:
        return self._meta.get("end_time")

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (to the last heartbeat for runs without an end)."""
        start = self.start_time
        end = self.end_time or self._meta.get("heartbeat")
        return None if start is None or end is None else max(0.0, float(end) - float(start))

    @property
    def error(self) -> RunError | None:
        """Why the run ended as it did: for a ``failed`` run the exception that ended it (type,
        message, traceback), for a ``killed`` one the reason (``KeyboardInterrupt``,
        ``SIGTERM``); None for a run that completed."""
        return run_error(self._meta.get("error"))

    @property
    def host(self) -> str | None:
        return self._meta.get("host")

    @property
    def pid(self) -> int | None:
        return self._meta.get("pid")

    @property
    def git(self) -> dict[str, Any] | None:
        return self._meta.get("git")

    def get(self, key: str, default: Any = None) -> Any:
        """The value of a dotted metadata key, as ``Store.runs(where=...)`` reads it:
        ``view.get("config.optimizer.lr")``, ``view.get("summary.loss")``; ``default`` when the
        run has no such key."""
        from ._lookup import MISSING, lookup

        value = lookup(self._meta, key)
        return default if value is MISSING else value

    @property
    def meta(self) -> dict[str, Any]:
        """The raw metadata document (a copy)."""
        copy: dict[str, Any] = json.loads(json.dumps(self._meta))
        return copy

    def __repr__(self) -> str:
        return f"<RunView {self.experiment}/{self.name} id={self.id} status={self.status}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to another process (a Ray task, a pool worker) as its directory and metadata;
        # the data is read again there, lazily.
        return (_rebuild_view, (str(self.dir), self._meta, self.unreadable))

    # ------------------------------------------------------------------ data

    def refresh(self) -> RunView:
        """Re-read the metadata and any new data; returns ``self``."""
        try:
            self._meta = read_meta(self.dir)
            self.unreadable = None
        except UnreadableRunError as exc:
            self.unreadable = str(exc)
        self._read_new()
        return self

    def _require_readable(self) -> None:
        if self.unreadable:
            raise UnreadableRunError(self.unreadable)

    def _read_new(self) -> None:
        path = self.dir / META_DIR / DATA_FILE
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
        except OSError as exc:
            self._note(f"{path}: cannot be read: {exc}")
            return
        self._check_size(path, size)
        if size <= self._offset:
            return
        try:
            with open(path, "rb") as fh:
                walked = rec.walk_file(fh, self._offset, size)
        except OSError as exc:
            self._note(f"{path}: cannot be read: {exc}")
            return
        for record in walked.records:
            try:
                self._take(record)
            except rec.BadRecord as exc:
                self._note(f"{path}: the record at byte {record.offset} is left out: {exc}")
        # A torn last record (a writer killed mid-write, or one still writing) is read next time.
        self._offset = walked.end
        for problem in walked.problems:
            self._note(f"{path}: {problem}")

    def _check_size(self, path: Path, size: int) -> None:
        """A data file shorter than its writer last recorded was truncated after the fact."""
        recorded = self._meta.get("data_size")
        if isinstance(recorded, int) and size < recorded:
            self._note(
                f"{path}: the file is {size} bytes but its writer recorded {recorded}: it was "
                f"truncated, the last {recorded - size} byte(s) are missing"
            )
        lost = self._meta.get("lost")
        if isinstance(lost, Mapping) and lost.get("reason"):
            self._note(f"the writer of this run lost data: {lost['reason']}")

    def _note(self, problem: str) -> None:
        if problem not in self._problems:
            self._problems.append(problem)

    @property
    def problems(self) -> list[str]:
        """Damage found in this run so far, one line each (reading what is new first): damaged
        records or bytes skipped, a data file cut short, data its writer reported lost, record
        paths leading outside the run. Empty for a healthy run."""
        self._read_new()
        return list(self._problems)

    def _take(self, record: rec.RawRecord) -> None:
        kind = record.kind
        if kind == rec.KIND_SCALARS:
            for block in record.blocks:
                self._series.setdefault(block.tag_id, _TagSeries()).blocks.append(block)
        elif kind == rec.KIND_TAGS:
            for tag_id, tag in list(rec.parse_tags(record)):
                self._tag_ids[tag] = tag_id
        elif kind == rec.KIND_TEXT:
            for tag, step, wall, text in list(rec.parse_text(record)):
                self._text.setdefault(tag, []).append(TextEntry(step, wall, text))
        elif kind == rec.KIND_MEDIA:
            item = rec.parse_item(record, kind)
            if item is not None:
                entry = self._media_entry(item)
                self._media.setdefault((entry.kind, entry.tag), []).append(entry)
        elif kind == rec.KIND_ARTIFACT:
            item = rec.parse_item(record, kind)
            if item is not None:
                self._artifacts.append(self._artifact_entry(item))

    def _inside(self, value: Any, what: str) -> Path | None:
        """The path a record names, when it resolves inside this run directory; else None and a
        problem (a crafted record must not make a reader open files elsewhere)."""
        if not isinstance(value, str) or not value:
            return None
        path = self.dir / value
        try:
            resolved = path.resolve()
            root = self.dir.resolve()
        except (OSError, RuntimeError):
            resolved, root = None, None
        if resolved is None or root is None or not resolved.is_relative_to(root):
            self._note(f"a record's {what} path {value!r} leads outside the run; it is ignored")
            return None
        return path

    def _media_entry(self, item: Mapping[str, Any]) -> MediaEntry:
        kind = item["kind"]
        main = self._inside(item.get("pickle" if kind == "figure" else "path"), kind)
        png = self._inside(item.get("png"), kind)
        return MediaEntry(
            kind=kind,
            tag=item["tag"],
            step=item["step"],
            wall_time=float(item["wall"]),
            path=main or self.dir,
            png=png or (main if kind == "image" else None),
            plotly=self._inside(item.get("plotly"), kind),
            interactive=bool(item.get("interactive", False)),
            static_reason=_text_or_none(item.get("static_reason")),
        )

    def _artifact_entry(self, item: Mapping[str, Any]) -> ArtifactEntry:
        metadata = item.get("metadata")
        step = item.get("step")
        wall = item.get("wall")
        return ArtifactEntry(
            name=item["name"],
            kind=item["kind"],
            path=self._inside(item["path"], "artifact") or self.dir / ARTIFACTS_MISSING,
            size=item["size"],
            sha256=_text_or_none(item.get("sha256")),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
            step=step if type(step) is int else None,
            wall_time=float(wall) if isinstance(wall, int | float) else None,
        )

    def _read_blocks(
        self, tag: str, refs: list[rec.BlockRef]
    ) -> Iterator[tuple[rec.BlockRef, memoryview]]:
        """Read and verify ``refs`` (one tag's blocks, in file order), yielding each good block.

        Neighbouring blocks are read together (one read of up to ``_READ_CHUNK`` bytes) into one
        buffer reused for the whole series: a yielded body is valid only until the next one.
        Reusing the buffer matters on a cold read: touching fresh memory (page faults) costs
        more than copying the bytes. Corrupt blocks are reported in :attr:`problems` and skipped.
        """
        path = self.dir / META_DIR / DATA_FILE
        groups = _read_groups(refs)
        scratch = bytearray(max(g[-1].offset + g[-1].length - g[0].offset for g in groups))
        with open(path, "rb", buffering=0) as fh:
            _will_need(fh, groups)
            for group in groups:
                start = group[0].offset
                span = group[-1].offset + group[-1].length - start
                got = _read_at(fh, start, memoryview(scratch)[:span])
                for ref in group:
                    lo = ref.offset - start
                    body = memoryview(scratch)[lo : min(lo + ref.length, got)]
                    if rec.block_ok(ref, body):
                        yield ref, body
                        continue
                    note = (
                        f"{path}: checksum mismatch in the block of tag {tag!r} at offset "
                        f"{ref.offset}; its {ref.count} point(s) are left out"
                    )
                    self._note(note)

    @property
    def scalar_tags(self) -> list[str]:
        self._read_new()
        return [
            t for t, i in sorted(self._tag_ids.items(), key=lambda kv: kv[1]) if i in self._series
        ]

    def scalars(self, tag: str) -> Scalars:
        """The whole series of ``tag`` as numpy arrays, in logging order."""
        self._read_new()
        tag_id = self._tag_ids.get(tag)
        if tag_id is None or tag_id not in self._series:
            raise KeyError(f"run {self.id} has no scalar tag {tag!r}; it has {self.scalar_tags}")
        series = self._series[tag_id]
        pending = series.blocks[series.decoded :]
        if pending:
            old = series.parts[0] if series.parts else None
            have = len(old.values) if old is not None else 0
            total = have + sum(ref.count for ref in pending)
            steps = np.empty(total, np.int64)
            values = np.empty(total, np.float64)
            walls = np.empty(total, np.float64)
            if old is not None:
                steps[:have], values[:have], walls[:have] = old
            at = have
            for ref, body in self._read_blocks(tag, pending):
                end = at + ref.count
                rec.decode_into(ref, body, steps[at:end], values[at:end], walls[at:end])
                at = end
            if at < total:  # corrupt blocks were left out
                steps, values, walls = steps[:at].copy(), values[:at].copy(), walls[:at].copy()
            series.parts = [Scalars(steps, values, walls)]
        series.decoded = len(series.blocks)
        if not series.parts:
            empty = np.empty(0)
            return Scalars(empty.astype(np.int64), empty, empty)
        return series.parts[0]

    def scalar_count(self, tag: str) -> int:
        """How many points ``tag`` has (0 if none), from the block index: nothing is decoded."""
        self._read_new()
        series = self._series.get(self._tag_ids.get(tag, -1))
        return sum(ref.count for ref in series.blocks) if series is not None else 0

    def release(self, tag: str | None = None) -> None:
        """Free the decoded points of ``tag`` (of every tag by default).

        The view remembers where they are, so the next :meth:`scalars` call reads them again.
        A view kept for long over many big series (a viewer, a notebook looping over runs)
        calls this to bound its memory.
        """
        if tag is None:
            chosen = list(self._series.values())
        else:
            tag_id = self._tag_ids.get(tag)
            found = self._series.get(tag_id) if tag_id is not None else None
            chosen = [found] if found is not None else []
        for series in chosen:
            series.parts = []
            series.decoded = 0

    @property
    def text_tags(self) -> list[str]:
        self._read_new()
        return list(self._text)

    def text(self, tag: str) -> list[TextEntry]:
        self._read_new()
        if tag not in self._text:
            raise KeyError(f"run {self.id} has no text tag {tag!r}; it has {list(self._text)}")
        return list(self._text[tag])

    def _media_tags(self, kind: str) -> list[str]:
        self._read_new()
        return [tag for k, tag in self._media if k == kind]

    def _media_of(self, kind: str, tag: str) -> list[MediaEntry]:
        self._read_new()
        entries = self._media.get((kind, tag))
        if entries is None:
            raise KeyError(
                f"run {self.id} has no {kind} tag {tag!r}; it has {self._media_tags(kind)}"
            )
        return list(entries)

    @property
    def figure_tags(self) -> list[str]:
        return self._media_tags("figure")

    def figures(self, tag: str) -> list[MediaEntry]:
        return self._media_of("figure", tag)

    def load_figure(self, tag: str, step: int | None = None) -> Any:
        """Unpickle the figure logged for ``tag`` at ``step`` (the last one when None).

        Unpickling runs code from the file: call it only on stores you trust. Nothing in labtrack
        calls it to show a figure; the viewer draws the plotly JSON or PNG written when the
        figure was logged.
        """
        import cloudpickle

        entries = self.figures(tag)
        if step is None:
            entry = entries[-1]
        else:
            matches = [e for e in entries if e.step == step]
            if not matches:
                raise KeyError(
                    f"run {self.id} has no figure {tag!r} at step {step}; "
                    f"steps: {[e.step for e in entries]}"
                )
            entry = matches[-1]
        with open(entry.path, "rb") as fh:
            return cloudpickle.load(fh)

    @property
    def image_tags(self) -> list[str]:
        return self._media_tags("image")

    def images(self, tag: str) -> list[MediaEntry]:
        return self._media_of("image", tag)

    @property
    def video_tags(self) -> list[str]:
        return self._media_tags("video")

    def videos(self, tag: str) -> list[MediaEntry]:
        """Videos logged for ``tag``: ``path`` is the MP4 or GIF, ``png`` its first frame."""
        return self._media_of("video", tag)

    def artifacts(self) -> list[ArtifactEntry]:
        self._read_new()
        return list(self._artifacts)

    def iter_scalars(self) -> Iterator[tuple[str, Scalars]]:
        for tag in self.scalar_tags:
            yield tag, self.scalars(tag)

    def to_pandas(self, tags: list[str] | None = None) -> pd.DataFrame:
        """All (or the given) scalar tags in long format: tag, step, value, wall_time."""
        from ..errors import require

        pd = require("pandas", "data", "RunView.to_pandas()")
        frames = []
        for tag in tags if tags is not None else self.scalar_tags:
            series = self.scalars(tag)
            frames.append(
                pd.DataFrame(  # type: ignore[attr-defined]
                    {
                        "tag": tag,
                        "step": series.steps,
                        "value": series.values,
                        "wall_time": series.wall_times,
                    }
                )
            )
        if not frames:
            return pd.DataFrame(columns=["tag", "step", "value", "wall_time"])  # type: ignore[attr-defined, no-any-return]
        return pd.concat(frames, ignore_index=True)  # type: ignore[attr-defined, no-any-return]


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _rebuild_view(run_dir: str, meta: dict[str, Any], error: str | None) -> RunView:
    view = RunView(run_dir, meta=meta)
    view.unreadable = error
    return view


def open_run(path: str | Path) -> RunView:
    """A :class:`RunView` of the run directory ``path`` (StoreError if it is not a run)."""
    run_dir = Path(path)
    if not (run_dir / META_DIR).is_dir():
        raise StoreError(f"{run_dir} is not a labtrack run directory (no {META_DIR}/ inside)")
    return RunView(run_dir)
