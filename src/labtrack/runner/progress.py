"""The sweep's progress display: done / cached / failed / running counts and an ETA (rich).

With output capture off (``-s``) there is no bar; one line per finished config is printed
instead, so it does not fight with the configs' own live output. When stderr is not a terminal
(a log file, CI), a live bar would be written as cut-off fragments: whole status lines are
printed instead, at most every :data:`LOG_EVERY` seconds, and once at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

#: Seconds between status lines when stderr is not a terminal.
LOG_EVERY = 10.0


class SweepProgress:
    """Counts of a sweep, shown live on stderr while the sweep runs."""

    def __init__(
        self,
        total: int,
        cached: int,
        *,
        bar: bool,
        title: str,
        guard: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self._guard = guard
        self.total = total
        self.cached = cached
        self.done = 0
        self.failed = 0
        self.running = 0
        self._bar = bar
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task: Any = None
        self._title = title
        self._last_refresh = 0.0
        self._lines = False  # whole status lines instead of a bar (stderr is not a terminal)
        self._started = time.monotonic()

    def __enter__(self) -> SweepProgress:
        if self._bar and not _is_terminal(sys.stderr):
            self._bar = False
            self._lines = True
        if self._bar:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "[green]{task.fields[done]} done[/] · [cyan]{task.fields[cached]} cached[/]"
                    " · [red]{task.fields[failed]} failed[/] · "
                    "[yellow]{task.fields[running]} running[/]"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=False,
                auto_refresh=False,  # no refresh thread: output only from guarded updates
                redirect_stdout=False,  # workers (forked ones too) keep the real streams
                redirect_stderr=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self._title, total=self.total, completed=self.cached, **self._fields()
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._update(force=True)
            self._progress.stop()
        if self._lines:
            self._status_line()

    def _status_line(self) -> None:
        n = self.cached + self.done + self.failed
        elapsed = time.monotonic() - self._started
        with self._guard():
            print(
                f"[labtrack] {self._title}: {n}/{self.total} ({self.done} done, {self.cached} "
                f"cached, {self.failed} failed, {self.running} running) after {elapsed:.0f}s",
                file=sys.stderr,
                flush=True,
            )
        self._last_refresh = time.monotonic()

    def _fields(self) -> dict[str, int]:
        return {
            "done": self.done,
            "cached": self.cached,
            "failed": self.failed,
            "running": self.running,
        }

    def _update(self, advance: int = 0, force: bool = False) -> None:
        if self._lines and time.monotonic() - self._last_refresh >= LOG_EVERY:
            self._status_line()
        if self._progress is not None:
            with self._guard():
                self._progress.update(self._task, advance=advance, **self._fields())
                # Redraw at most 10 times a second: a redraw costs about half a millisecond,
                # more than running a short config.
                now = time.monotonic()
                if force or now - self._last_refresh >= 0.1:
                    self._progress.refresh()
                    self._last_refresh = now

    def started(self, name: str) -> None:
        with self._lock:
            self.running += 1
            self._update()

    def finished(self, name: str, ok: bool, message: str = "") -> None:
        with self._lock:
            self.running -= 1
            if ok:
                self.done += 1
            else:
                self.failed += 1
            self._update(advance=1)
            if self._progress is None and not self._lines:
                state = "done" if ok else f"FAILED {message}"
                n = self.cached + self.done + self.failed
                with self._guard():
                    print(
                        f"[labtrack {n}/{self.total}] {name}: {state}", file=sys.stderr, flush=True
                    )


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())
