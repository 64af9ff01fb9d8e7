"""Shared fixtures: every test runs in its own empty working directory with no LABTRACK_* set."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True, scope="session")
def _patient_ray() -> None:
    """Ray waits 10 s for a starting node by default, which a loaded 2-core machine misses
    ("timed out during startup"); the tests' Ray sessions and examples (subprocesses inherit
    this) wait two minutes instead."""
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("LABTRACK_") and key != "LABTRACK_REQUIRE_BROWSER":
            monkeypatch.delenv(key)
        # MLflow's fluent API leaves the active experiment and run in the environment, where
        # the next test's MLflow (in process or in a subprocess) would look for them.
        if key in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
            monkeypatch.delenv(key)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory; ``./out`` is the default store inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_python(
    code: str, cwd: Path, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (the way a user's script runs)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[call-overload]
    )


def wait_until_asleep(pid: int, timeout: float = 30) -> None:
    """Wait until the main thread of ``pid`` sleeps in ``time.sleep``, so that a signal sent
    next finds it there rather than on its way to Python's handler installation or its sleep.

    Even so, on a machine loaded far beyond its cores, CPython sometimes runs a SIGTERM handler
    only when a long ``time.sleep`` ends (seen about once in ten under ``stress --cpu 4``, with
    labtrack's threads keeping the signal blocked): children that must react at once sleep in
    short steps, as a training loop does. Without ``/proc/<pid>/wchan`` it waits half a second.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/wchan") as fh:
                where = fh.read()
        except OSError:
            time.sleep(0.5)
            return
        if "nanosleep" in where:
            return
        time.sleep(0.005)
    raise TimeoutError(f"process {pid} did not go to sleep within {timeout} s")


def start_python(code: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
