"""``ConfigTask``: what every executor calls once per config, in whatever process runs it.

It opens the config's run directory as a labtrack run (current while the function runs),
captures output into ``stdout.log`` / ``stderr.log`` (also logged as text), calls the function,
writes ``result.pkl`` whole, and finishes the run as completed, failed or killed. A task
pickles (cloudpickle), so subprocess, fork and Ray workers run the same code.

Records: ``{"name", "config", **outputs}`` (a non-dict output goes under ``result`` and
``value``), or for a
failure ``{"__error__": True, "name", "config", "type", "message", "traceback"}``.

A failure is told in three places that say the same thing: the error record, the run's
metadata (``error``, read as ``RunView.error``: the record's type, message and traceback) and
the config's ``stderr.log`` (the traceback, printed where the function's own output goes, so
every executor, inline included, leaves it there).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrack.errors import SerializationError
from labtrack.runner import cache
from labtrack.runner.config import Config

STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
_MAX_LOGGED_TEXT = 1_000_000  # characters of captured output logged as text (the files keep all)
#: The ``error`` of a run stopped by Ctrl-C (its status is ``killed``, not ``failed``).
INTERRUPTED: Mapping[str, str] = {
    "type": "KeyboardInterrupt",
    "message": "the sweep was interrupted",
}


@dataclass
class ConfigTask:
    """Run one config of an experiment; ``task(config) -> record``."""

    fn: Callable[..., Any]
    experiment: str
    capture: bool = True
    registry: dict[str, type] = field(default_factory=dict)
    driver_pid: int = field(default_factory=os.getpid)
    #: pyexp's ``def exp(config, logger)``: pass a ``Logger`` writing to the config's run.
    wants_logger: bool = False
    #: tags every config's run gets (the git snapshot of the sweep, for one).
    tags: dict[str, str] = field(default_factory=dict)

    def __call__(self, config: Config, *, capture_exit: bool | None = None) -> dict[str, Any]:
        from labtrack.runner.registry import install

        install(self.registry)
        config = config if isinstance(config, Config) else Config(config)
        out = Path(config["out"])
        out.mkdir(parents=True, exist_ok=True)
        run = open_run(self.experiment, config, capture_exit=capture_exit, tags=self.tags)
        status = "failed"
        error: Mapping[str, Any] | None = None
        try:
            with _captured(out, self.capture, fd_level=os.getpid() != self.driver_pid):
                try:
                    outputs = self._call(config, run)
                    record = success_record(config, outputs)
                    status = "completed"
                except KeyboardInterrupt:
                    status, error = "killed", INTERRUPTED
                    raise
                except BaseException as exc:
                    record = error = _report(error_record(config, exc))
                try:
                    cache.write_result(out / cache.RESULT_FILE, record)
                except SerializationError as exc:
                    record = error = _report(error_record(config, exc))
                    status = "failed"
                    cache.write_result(out / cache.RESULT_FILE, record)
            return record
        finally:
            close_run(run, status, out if self.capture else None, error)

    def _call(self, config: Config, run: Any) -> Any:
        if not self.wants_logger:
            return self.fn(config)
        from labtrack.logger import Logger

        if run is None:
            raise RuntimeError(f"no run could be opened in {config['out']} for the logger")
        return self.fn(config, Logger.of_run(run))


def wants_logger(fn: Callable[..., Any]) -> bool:
    """True for pyexp's two-parameter form ``def exp(config, logger)``."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) >= 2


def _report(record: dict[str, Any]) -> dict[str, Any]:
    """Print an error record's traceback to ``sys.stderr`` (the config's ``stderr.log`` while
    output is captured); return the record."""
    with contextlib.suppress(Exception):
        print(
            record.get("traceback") or f"{record.get('type')}: {record.get('message')}",
            file=sys.stderr,
            end="" if record.get("traceback") else "\n",
            flush=True,
        )
    return record


def success_record(config: Config, outputs: Any) -> dict[str, Any]:
    record: dict[str, Any] = (
        dict(outputs) if isinstance(outputs, Mapping) else {"result": outputs, "value": outputs}
    )
    record["name"] = config.get("name")
    record["config"] = config
    return record


def error_record(
    config: Mapping[str, Any], exc: BaseException | None = None, **fields: Any
) -> dict[str, Any]:
    """An error record from an exception, or from explicit ``type``/``message`` fields."""
    record: dict[str, Any] = {"__error__": True, "name": config.get("name"), "config": config}
    if exc is not None:
        record["type"] = type(exc).__name__
        record["message"] = str(exc)
        record["traceback"] = "".join(traceback.format_exception(exc))
    record.update(fields)
    record.setdefault("traceback", "")
    return record


def open_run(
    experiment: str,
    config: Mapping[str, Any],
    *,
    capture_exit: bool | None = None,
    tags: Mapping[str, str] | None = None,
) -> Any:
    """Open (or resume) the config's run directory as a labtrack run; None if that fails.

    Recording must never stop the experiment itself: a failure here is reported on stderr
    and the function runs without a run.
    """
    from labtrack import _run

    body = {k: v for k, v in Config(config).to_dict().items() if k != "out"}
    try:
        return _run.start_run(
            experiment=experiment,
            name=str(config.get("name") or "config"),
            config=body,
            run_dir=config["out"],
            tags=dict(tags) if tags else None,
            durable=False,  # result.pkl decides completion; see cache.write_result
            capture_exit=(
                threading.current_thread() is threading.main_thread()
                if capture_exit is None
                else capture_exit
            ),
        )
    except Exception as exc:
        print(
            f"labtrack: cannot record run {config['out']}: {type(exc).__name__}: {exc}",
            file=sys.__stderr__,
        )
        return None


def close_run(
    run: Any, status: str, captured_dir: Path | None, error: Mapping[str, Any] | None = None
) -> None:
    """Log captured output as text and finish ``run`` with ``status``; never raises.

    ``error`` (an error record, or any mapping with ``type``, ``message``, ``traceback``) is
    stored as the run's ``error``: why it failed, or was killed.
    """
    if run is None:
        return
    try:
        if captured_dir is not None:
            log_captured(run, captured_dir)
        run.finish(status=status, error=None if error is None else _error_fields(error))
    except Exception as exc:
        print(f"labtrack: cannot finish run {run.dir}: {exc}", file=sys.__stderr__)


def _error_fields(error: Mapping[str, Any]) -> dict[str, Any]:
    return {k: error.get(k) or "" for k in ("type", "message", "traceback")}


def log_captured(run: Any, directory: Path) -> None:
    for tag, file in (("stdout", STDOUT_FILE), ("stderr", STDERR_FILE)):
        path = directory / file
        try:
            if os.stat(path).st_size == 0:  # the common case: nothing printed, nothing to open
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        if text:
            run.log_text(tag, text[-_MAX_LOGGED_TEXT:])


@contextlib.contextmanager
def _captured(directory: Path, capture: bool, fd_level: bool) -> Iterator[None]:
    """Send output to ``stdout.log``/``stderr.log`` in ``directory`` (appending).

    In a worker process the file descriptors themselves are redirected (and restored after),
    so output of C extensions and child processes is kept too; in the driver's own process
    only ``sys.stdout``/``sys.stderr`` are, so the progress display is untouched.
    """
    if not capture:
        yield
        return
    out_path, err_path = directory / STDOUT_FILE, directory / STDERR_FILE
    if not fd_level:
        # In the driver's own process: collect in memory, write files only for what was printed
        # (most short configs print nothing, and each file costs a create on disk).
        out_buf, err_buf = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out_buf), contextlib.redirect_stderr(err_buf):
                yield
        finally:
            for path, buf in ((out_path, out_buf), (err_path, err_buf)):
                if buf.tell():
                    with open(path, "a", encoding="utf-8") as fh:
                        fh.write(buf.getvalue())
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(1), os.dup(2)
    with open(out_path, "ab") as out_file, open(err_path, "ab") as err_file:
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def finish_unfinished(
    experiment: str,
    config: Mapping[str, Any],
    status: str,
    record: Mapping[str, Any] | None,
    *,
    capture: bool = False,
) -> None:
    """Close the run of a worker that died (crash or kill) and keep its error record.

    The worker could not finish its run, so its metadata still says ``running``; the driver
    resumes it (the owner process is gone), logs what the worker printed, and sets ``status``
    with ``record`` (what the runner knows of the death) as the run's ``error``, or the
    interruption for a killed run. With ``capture`` the record's message is also appended to
    ``stderr.log``, after whatever the worker printed before it died.
    """
    from labtrack.store import wait_for_writer

    out = Path(config["out"])
    if record is not None:
        cache.write_result(out / cache.RESULT_FILE, record)
        if capture:
            with contextlib.suppress(OSError), open(out / STDERR_FILE, "a") as fh:
                fh.write(f"labtrack: {record.get('type')}: {record.get('message')}\n")
    wait_for_writer(out, timeout=10.0)  # the dead worker's process may still be exiting
    run = open_run(experiment, config)
    if run is not None and record is not None:
        with contextlib.suppress(Exception):
            run.log_text("error", f"{record.get('type')}: {record.get('message')}")
    error = record if record is not None else INTERRUPTED if status == "killed" else None
    close_run(run, status, out, error)
