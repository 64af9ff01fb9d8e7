"""What every reliability check shares: how child processes are started, and how figures are kept.

The checks (``_kills``, ``_writers``, ``_claims``, ``_fuzz``) are plain functions that return
figures; the tests assert on them and ``bench/soak.py`` prints them. Nothing here imports pytest,
so the soak script can import this package with only the repository root on ``sys.path``.

Child processes run the way a user's script runs: a fresh interpreter, ``labtrack`` imported from
this checkout's ``src/``. Helper processes that are not user scripts (readers, claimers, fuzz
workers) import their entry point from this package, so the repository root is on their path too.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def child_env() -> dict[str, str]:
    """The environment of every child: ours, with this checkout first on the import path and no
    ``LABTRACK_*`` setting that could redirect or slow a run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABTRACK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(ROOT)])
    return env


def spawn_script(
    code: str,
    cwd: Path,
    args: Sequence[str] = (),
    *,
    stdin: bool = False,
    stderr: Path | None = None,
) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` in ``cwd``, with a pipe for its output (and input).

    ``stderr`` sends the child's error stream to a file: a child that may log many warnings
    must not block on a full pipe nobody reads (that would look like a hang).
    """
    err = open(stderr, "w") if stderr is not None else None
    try:
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err if err is not None else subprocess.PIPE,
            text=True,
        )
    finally:
        if err is not None:
            err.close()


def spawn_helper(
    module: str,
    args: Sequence[str],
    cwd: Path,
    *,
    stdin: bool = False,
    stderr: Path | None = None,
) -> subprocess.Popen[str]:
    """Start ``main(args)`` of ``tests.reliability.<module>`` in a fresh interpreter."""
    code = f"import sys; from tests.reliability.{module} import main; main(sys.argv[1:])"
    return spawn_script(code, cwd, args, stdin=stdin, stderr=stderr)


class Lines:
    """A child's output lines, read by a thread so that waiting for one can time out.

    (``select`` on the pipe would miss lines already read into the file object's buffer.)
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        stream = proc.stdout
        assert stream is not None

        def pump() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def next(self, timeout: float) -> str | None:
        """The next line without its newline, None at the end of the output; raises
        ``TimeoutError`` when the child says nothing for ``timeout`` seconds."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output for {timeout:g} s") from None
        if line is None:
            self._queue.put(None)  # stay at the end for later calls
            return None
        return line.rstrip("\n")


def stop(proc: subprocess.Popen[str]) -> None:
    """End a child we started (SIGKILL if it still runs) and reap it."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
        pass


def short(exc: BaseException) -> str:
    """``Type: message``, cut to one readable line."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


def sample(items: Sequence[str], n: int = 5) -> str:
    """The first ``n`` of ``items`` on separate lines, for an assertion message."""
    more = f"\n  ... and {len(items) - n} more" if len(items) > n else ""
    return "".join(f"\n  {item}" for item in items[:n]) + more
