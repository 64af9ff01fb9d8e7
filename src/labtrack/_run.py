"""Run: a RunWriter with a lifecycle, and the one explicit "current run".

Every way a process can end sets the run's status:

* ``with start_run(...)``: ``completed``; an exception -> ``failed``; Ctrl-C -> ``killed``.
* no ``with`` and no ``finish()``: at interpreter exit -> ``completed``, or ``failed`` when the
  program died of an uncaught exception (seen through ``sys.excepthook``), ``killed`` on Ctrl-C.
* SIGTERM: the handler marks the process's runs ``killed`` and ends the program the way the
  signal would have (or chains to the handler that was installed before).
* SIGKILL cannot be caught: the run stays ``running`` in its metadata and readers report it
  ``crashed`` because its pid is gone; every point persisted before the kill is readable.

A ``failed`` run records the exception that ended it (type, message, traceback) under the
metadata key ``error``, read back as ``RunView.error``; a ``killed`` run records a short reason
there (``KeyboardInterrupt`` or ``SIGTERM``, no traceback). The status alone decides failure.

Hooks are installed on the first ``start_run``, not at import, and chain to what was there.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from ._env import LABTRACK_DIR, default_store_dir
from .store import RunWriter, check_tag, new_run_id

#: What a run stopped by Ctrl-C or SIGTERM records under ``error`` (its status is ``killed``).
INTERRUPT_REASON: Mapping[str, str] = {"type": "KeyboardInterrupt", "message": "interrupted"}
SIGTERM_REASON: Mapping[str, str] = {"type": "SIGTERM", "message": "terminated by SIGTERM"}

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar("labtrack_run", default=None)


class Run(RunWriter):
    """A run being recorded. Make one with :func:`start_run`.

    >>> with labtrack.start_run("demo", config={"lr": 0.1}) as run:   # doctest: +SKIP
    ...     for step in range(100):
    ...         run.log({"loss": 1 / (step + 1)}, step=step)
    """

    _exit_status: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._meta["config"])

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish("completed")
        elif _hooks.terminating:
            self.finish("killed", error=SIGTERM_REASON)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("killed", error=INTERRUPT_REASON)
        else:
            self.finish("failed", error=exc)

    def finish(
        self,
        status: str = "completed",
        error: BaseException | Mapping[str, Any] | None = None,
        **times: float | None,
    ) -> None:
        """Persist everything and record the final ``status`` (completed, failed or killed).

        ``error`` says why: the exception that ended the run, or a mapping with ``type``,
        ``message`` and ``traceback``; ``start_time`` / ``end_time`` for a run recorded elsewhere
        (see :meth:`RunWriter.finish`).
        """
        super().finish(status, error=error, **times)
        _hooks.forget(self)
        if _current.get() is self:
            _current.set(None)


def start_run(
    experiment: str,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    dir: str | Path | None = None,
    tags: Sequence[str] | Mapping[str, str] | None = None,
    *,
    run_dir: str | Path | None = None,
    flush_interval: float = 0.1,
    capture_exit: bool = True,
    **writer_options: Any,
) -> Run:
    """Start recording a run and make it the current run.

    Args:
        experiment: groups runs; also the folder the run is made in.
        name: a readable name (default: the run's id).
        config: nested configuration; values that cannot be stored raise ``ConfigError``
            naming the key path.
        dir: the store directory (default ``$LABTRACK_DIR`` or ``./out``); the run's own
            directory is ``<dir>/<experiment>/<name>-<id>``. ``"ray://<name>"`` names a store
            served to a Ray cluster (:func:`labtrack.serve_store`), written through that
            store's node even from the same node. Any other run opened on a node of a Ray
            cluster that cannot see its store is written through the store's node too
            (``docs/cluster.md``).
        tags: names (``["baseline"]``) or name/value pairs.
        run_dir: record into exactly this directory instead (resumed if it already holds a
            run whose writer is gone; refused while that writer lives).
        flush_interval: seconds between background persists.
        capture_exit: set the status on interpreter exit, uncaught exceptions and SIGTERM.
        writer_options: ``max_pending``, ``backpressure`` ("block" or "drop"),
            ``max_block_seconds``, ``durable`` (see :class:`~labtrack.store.RunWriter`).
    """
    check_tag(experiment, "experiment")
    if name is not None:
        check_tag(name, "name")
    served = run_dir is None and _served_url(dir) is not None
    if run_dir is None:
        if any(sep in experiment for sep in ("/", "\\")) or experiment in (".", ".."):
            raise ValueError(f"experiment {experiment!r} must not contain path separators")
        store = _store_dir(dir)
        run_id = new_run_id()  # the folder ends with the run's id: `labtrack show <suffix>`
        folder = f"{_slug(name)}-{run_id}" if name else run_id
        run_dir = store / experiment / folder
        writer_options.setdefault("run_id", run_id)
    if "ray" in sys.modules and "output" not in writer_options:  # a Ray cluster: maybe remote
        from .cluster import output_for

        writer_options["output"] = output_for(Path(run_dir).absolute(), force=served)
    run = Run(
        run_dir,
        experiment=experiment,
        name=name,
        config=config,
        tags=tags,
        flush_interval=flush_interval,
        **writer_options,
    )
    if capture_exit:
        _hooks.track(run)
    _current.set(run)
    return run


def _store_dir(dir: str | Path | None) -> Path:
    """The store folder ``dir`` names: a path, ``"ray://<name>"`` (a store served to the Ray
    cluster by :func:`labtrack.serve_store`, on whichever node this runs), or the default."""
    url = _served_url(dir)
    if url is not None:
        from .cluster import store_root

        return store_root(url)
    return Path(dir) if dir is not None else default_store_dir()


def _served_url(dir: str | Path | None) -> str | None:
    """``"ray://<name>"`` when ``dir`` (or, without one, ``$LABTRACK_DIR``) names a served store."""
    named = dir if dir is not None else os.environ.get(LABTRACK_DIR)
    return named if isinstance(named, str) and named.startswith("ray://") else None


def current_run() -> Run | None:
    """The run most recently started in this context and not yet finished, or None."""
    return _current.get()


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name).strip(".")
    return cleaned[:80] or "run"


class _ExitHooks:
    """Process-wide exit handling for the runs this process writes (see module docstring)."""

    def __init__(self) -> None:
        self.runs: dict[int, Run] = {}
        self.installed = False
        self.terminating = False
        self.failure: str | None = None
        self.reason: BaseException | Mapping[str, str] | None = None  # why, for ``failure``
        self._lock = threading.Lock()
        self._previous_excepthook = sys.excepthook
        self._previous_sigterm: Any = None

    def track(self, run: Run) -> None:
        with self._lock:
            self.runs[id(run)] = run
            if not self.installed:
                self._install()

    def forget(self, run: Run) -> None:
        self.runs.pop(id(run), None)

    def _install(self) -> None:
        self.installed = True
        atexit.register(self._at_exit)
        self._previous_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGTERM)
            if previous in (signal.SIG_DFL, None) or callable(previous):
                self._previous_sigterm = previous
                signal.signal(signal.SIGTERM, self._on_sigterm)
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A forked child does not own its parent's runs: it must never finish them.
        self.runs = {}
        self.terminating = False
        self.failure = None
        self.reason = None

    def _excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        # Called before atexit with the exception that ends the program; keep it for _at_exit.
        if issubclass(exc_type, KeyboardInterrupt):
            self.failure, self.reason = "killed", INTERRUPT_REASON
        else:
            if exc.__traceback__ is None and tb is not None:
                exc = exc.with_traceback(tb)
            self.failure, self.reason = "failed", exc
        self._previous_excepthook(exc_type, exc, tb)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)  # the program's own handler decides what SIGTERM means
            return
        if not any(run._pid_owner == os.getpid() for run in self.runs.values()):
            # Nothing of ours to finish: end exactly as the default action would (a pool worker
            # terminated by its parent must not unwind through its interpreter's shutdown).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.terminating = True
        self.failure, self.reason = "killed", SIGTERM_REASON
        # Unwind like the default action would end the process, so ``with`` blocks and atexit
        # finish the runs (their files stay consistent: nothing is written from the handler).
        raise SystemExit(128 + signum)

    def _at_exit(self) -> None:
        status = self.failure or "completed"
        reason = self.reason if self.failure else None
        for run in list(self.runs.values()):
            if run._pid_owner == os.getpid():
                try:
                    run.finish(status, error=reason)
                except Exception:  # pragma: no cover - nothing more can be done at exit
                    pass


_hooks = _ExitHooks()
