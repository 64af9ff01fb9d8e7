"""``SubprocessExecutor``: each config in a fresh Python process (the default).

The task and config are cloudpickled into the run directory and a new interpreter runs
``python -m labtrack.runner.executors._worker <file>``. Functions defined in a script's
``__main__`` travel by value, and the parent's ``sys.path`` is restored in the child, so
``python main.py`` experiments work unchanged. A crash of any kind (exception, segfault,
``os._exit``) costs only that config.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from labtrack.runner.config import Config
from labtrack.runner.executors._process import collect, describe_exit
from labtrack.runner.executors.base import Executor
from labtrack.runner.task import STDERR_FILE, STDOUT_FILE, ConfigTask

PAYLOAD_FILE = ".labtrack-task.pkl"


class SubprocessExecutor(Executor):
    """Run each config in its own Python interpreter; crash-safe, cross-platform."""

    max_parallel = None

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._interrupted = False

    def run(self, fn: Callable[[Config], Any], config: Config, result_path: Path) -> Any:
        import cloudpickle

        if self._interrupted:
            return None
        out = result_path.parent
        out.mkdir(parents=True, exist_ok=True)
        payload = out / PAYLOAD_FILE
        header = {"sys_path": list(sys.path), "name": config.get("name"), "out": str(out)}
        body = cloudpickle.dumps((fn, config), protocol=pickle.HIGHEST_PROTOCOL)
        payload.write_bytes(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL) + body)
        capture = fn.capture if isinstance(fn, ConfigTask) else False
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        with contextlib.ExitStack() as stack:
            stdout: IO[bytes] | None = None
            stderr: IO[bytes] | None = None
            if capture:
                stdout = stack.enter_context(open(out / STDOUT_FILE, "ab"))
                stderr = stack.enter_context(open(out / STDERR_FILE, "ab"))
            proc = subprocess.Popen(
                [self.python, "-m", "labtrack.runner.executors._worker", str(payload)],
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the runner, which stops workers itself
                stdout=stdout,
                stderr=stderr,
            )
            with self._lock:
                self._procs.add(proc)
            code = proc.wait()  # on KeyboardInterrupt proc stays listed for interrupt()
            with self._lock:
                self._procs.discard(proc)
        with contextlib.suppress(OSError):
            payload.unlink()
        return collect(
            fn, config, result_path, describe_exit(code), self._interrupted, exit_code=code
        )

    def interrupt(self) -> None:
        """Ask every worker to stop (SIGINT: its run ends ``killed``), then kill stragglers."""
        self._interrupted = True
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5.0
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
