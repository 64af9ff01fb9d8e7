"""``SubprocessExecutor``: each config in a fresh Python process (the default).

The task and config are cloudpickled into the run directory and a new interpreter runs
``python -m labtrack.runner.executors._worker <file>``. Functions defined in a script's
``__main__`` travel by value, and the parent's ``sys.path`` is restored in the child, so
``python main.py`` experiments work unchanged. A crash of any kind (exception, segfault,
``os._exit``) costs only that config.

Code travels with its file name: cloudpickle replaces a by-value function's ``co_filename`` with
``<dynamic-code>``, which would make a failed config's traceback name no file and show no
source line; ``_dumps`` ships code objects whole with ``marshal`` (the worker runs the same
Python version, which by-value code needs anyway), so the traceback names the script and line.
"""

from __future__ import annotations

import contextlib
import io
import marshal
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import types
from collections import ChainMap
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, ClassVar

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
        if self._interrupted:
            return None
        out = result_path.parent
        out.mkdir(parents=True, exist_ok=True)
        payload = out / PAYLOAD_FILE
        header = {"sys_path": list(sys.path), "name": config.get("name"), "out": str(out)}
        body = _dumps((fn, config))
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


def _dumps(obj: Any) -> bytes:
    """cloudpickle ``obj``, keeping code objects' file names (see the module docstring)."""
    import cloudpickle

    by_value = cloudpickle.Pickler.dispatch_table[types.CodeType]

    def reduce_code(code: types.CodeType) -> tuple[Any, ...]:
        try:
            return marshal.loads, (marshal.dumps(code),)
        except ValueError:  # a hand-made code object with constants marshal cannot hold
            return tuple(by_value(code))

    class Pickler(cloudpickle.Pickler):  # type: ignore[misc]  # cloudpickle has no types
        dispatch_table: ClassVar[ChainMap[type, Any]] = ChainMap(
            {types.CodeType: reduce_code}, cloudpickle.Pickler.dispatch_table
        )

    buf = io.BytesIO()
    Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()
