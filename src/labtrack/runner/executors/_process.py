"""What the process-based executors share: exit-status wording, crash records, kill helpers."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtrack.runner import cache
from labtrack.runner.config import Config
from labtrack.runner.task import ConfigTask, error_record, finish_unfinished


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``signal SIGSEGV`` for a child's exit status (negative = signal)."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def collect(
    fn: Callable[[Config], Any],
    config: Config,
    result_path: Path,
    how: str,
    interrupted: bool,
    **fields: Any,
) -> Any:
    """The record a finished worker left, or an error record if it died without one.

    A worker that died (a signal, ``os._exit``, a lost Ray worker) leaves its run ``failed``
    with a ``WorkerCrashed`` error saying how (``exit code 3``, ``signal SIGKILL``), also
    appended to ``stderr.log`` when output is captured. A worker stopped by Ctrl-C leaves its
    run ``killed`` and no result (so a later continue runs it again).
    """
    record = cache.read_result(result_path)
    if record is not None:
        return record
    experiment = fn.experiment if isinstance(fn, ConfigTask) else ""
    capture = fn.capture if isinstance(fn, ConfigTask) else False
    if interrupted:
        finish_unfinished(experiment, config, "killed", None)
        return None
    crash = error_record(
        config,
        type="WorkerCrashed",
        message=f"the worker process died ({how}) before writing a result; "
        f"see {result_path.parent}/stderr.log",
        **fields,
    )
    finish_unfinished(experiment, config, "failed", crash, capture=capture)
    return crash
