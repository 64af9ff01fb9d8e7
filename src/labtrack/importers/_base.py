"""What an importer reads (:class:`SourceRun`) and what it returns (:class:`ImportReport`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import LabtrackError

T = TypeVar("T")


class ImportSourceError(LabtrackError):
    """A source cannot be read at all (a missing folder, an unreachable tracking server); the
    message names the path or URI."""


@dataclass
class Series:
    """One scalar tag of a source, in the source's own order (append-only)."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)

    def add(self, step: int, value: float, wall: float) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.walls.append(wall)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.asarray(self.steps, np.int64),
            np.asarray(self.values, np.float64),
            np.asarray(self.walls, np.float64),
        )


@dataclass(frozen=True)
class Artifact:
    """An artifact of a source run, fetched only when the labtrack run lacks it:
    ``fetch(scratch_dir)`` returns the local copy and its metadata."""

    name: str
    kind: str
    fetch: Callable[[Path], tuple[Path, dict[str, Any]]]


@dataclass
class SourceRun:
    """Everything read from one source run, before it is written.

    ``key`` is the source identity (stable across imports: the run directory is derived from
    it); ``images`` hold encoded image files (PNG, JPEG or GIF bytes); ``artifacts`` are
    fetched when they are written; ``skipped`` counts what
    labtrack cannot carry, by kind (``histograms``, ``graphs``, ``audio``, ...).
    """

    key: str
    kind: str  # "tensorboard", "mlflow"
    experiment: str
    name: str
    scalars: dict[str, Series] = field(default_factory=dict)
    text: dict[str, list[tuple[int, float, str]]] = field(default_factory=dict)
    images: dict[str, list[tuple[int, float, bytes]]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    status: str = "completed"
    skipped: dict[str, int] = field(default_factory=dict)
    start_time: float | None = None  # seconds since the epoch, when the source says
    end_time: float | None = None

    def series(self, tag: str) -> Series:
        found = self.scalars.get(tag)
        if found is None:
            found = self.scalars[tag] = Series()
        return found

    def skip(self, what: str, count: int = 1) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + count


@dataclass
class RunImport:
    """What happened to one source run: ``outcome`` is ``created``, ``updated`` (new points
    appended), ``unchanged`` (nothing new: nothing written) or ``failed`` (``error`` says why,
    naming the file or URI)."""

    source: str
    name: str
    outcome: str
    run_dir: Path | None = None
    points: int = 0  # scalar points written by this import
    media: int = 0  # text entries, images and artifacts written by this import
    skipped: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ImportReport:
    """The result of one import: a :class:`RunImport` per source run.

    >>> report = labtrack.importers.tensorboard("runs", into="out")   # doctest: +SKIP
    >>> report.failed, report.points, report.skipped                   # doctest: +SKIP
    ([], 1000000, {'histograms': 40})
    """

    runs: list[RunImport] = field(default_factory=list)

    def _with(self, outcome: str) -> list[RunImport]:
        return [r for r in self.runs if r.outcome == outcome]

    @property
    def created(self) -> list[RunImport]:
        return self._with("created")

    @property
    def updated(self) -> list[RunImport]:
        return self._with("updated")

    @property
    def unchanged(self) -> list[RunImport]:
        return self._with("unchanged")

    @property
    def failed(self) -> list[RunImport]:
        return self._with("failed")

    @property
    def points(self) -> int:
        return sum(r.points for r in self.runs)

    @property
    def skipped(self) -> dict[str, int]:
        """What could not be carried, summed over runs, by kind."""
        total: dict[str, int] = {}
        for run in self.runs:
            for what, count in run.skipped.items():
                total[what] = total.get(what, 0) + count
        return total

    def __str__(self) -> str:
        lines = [
            f"{len(self.runs)} run(s): {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed; "
            f"{self.points} point(s) written"
        ]
        for what, count in sorted(self.skipped.items()):
            lines.append(f"not carried: {count} {what}")
        for run in self.failed:
            lines.append(f"failed: {run.name}: {run.error}")
        return "\n".join(lines)


@contextmanager
def progress(items: list[T], what: str, show: bool | None) -> Iterator[Iterable[T]]:
    """Iterate ``items`` with a rich progress bar on stderr when it is a terminal (or ``show``)."""
    if show is None:
        show = sys.stderr.isatty()
    if not show or not items:
        yield items
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=len(items))

        def advancing() -> Iterator[T]:
            for item in items:
                yield item
                bar.advance(task)

        yield advancing()
