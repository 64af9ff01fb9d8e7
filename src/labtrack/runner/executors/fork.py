"""``ForkExecutor``: each config in a forked child (Unix); fast, same module state.

The child inherits everything the parent imported, so start-up costs one ``fork``. It writes
the result itself and leaves with ``os._exit`` (no atexit handlers, no flushing of the
parent's buffers twice). A crash costs only that config.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtrack.runner.config import Config
from labtrack.runner.executors._process import collect, describe_exit
from labtrack.runner.executors.base import Executor

# Held while forking and while the runner's other threads print or unpickle results: a
# child forked while another thread holds an import or stream lock would deadlock on it.
_FORK_LOCK = threading.RLock()


class ForkExecutor(Executor):
    """Run each config in a child made by ``os.fork()`` (Unix only)."""

    max_parallel = None

    def __init__(self) -> None:
        self._pids: set[int] = set()
        self._lock = threading.Lock()
        self._interrupted = False

    def guard(self) -> contextlib.AbstractContextManager[Any]:
        return _FORK_LOCK

    def run(self, fn: Callable[[Config], Any], config: Config, result_path: Path) -> Any:
        if self._interrupted:
            return None
        result_path.parent.mkdir(parents=True, exist_ok=True)
        with _FORK_LOCK:
            _preimport()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            pid = os.fork()
        if pid == 0:  # the child: never return into the runner's code
            code = 1
            try:
                os.setpgid(0, 0)  # Ctrl-C reaches the runner, which stops children itself
                signal.signal(signal.SIGINT, signal.default_int_handler)
                fn(config)
                code = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    import traceback

                    traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        with self._lock:
            self._pids.add(pid)
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped by interrupt()
            code = -signal.SIGKILL
        # (on KeyboardInterrupt the pid stays listed, for interrupt() to stop and reap)
        with self._lock:
            self._pids.discard(pid)
        with _FORK_LOCK:
            return collect(
                fn, config, result_path, describe_exit(code), self._interrupted, exit_code=code
            )

    def interrupt(self) -> None:
        """SIGINT every child (its run ends ``killed``); SIGKILL those still alive after 5 s."""
        self._interrupted = True
        with self._lock:
            remaining = set(self._pids)
        for pid in remaining:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 5.0
        while remaining and time.monotonic() < deadline:
            for pid in list(remaining):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:  # already reaped by its waiting thread
                    done = pid
                if done:
                    remaining.discard(pid)
            time.sleep(0.02)
        for pid in remaining:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def _preimport() -> None:
    """Import in the parent what every child needs, so no child imports it after the fork."""
    import cloudpickle  # noqa: F401

    import labtrack._run
    import labtrack.store  # noqa: F401
