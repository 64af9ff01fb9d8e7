from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own empty folder, without LABTRACK_* settings."""
    for key in list(os.environ):
        if key.startswith("LABTRACK_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_script(path: Path, *args: str, timeout: float = 120, check: bool = True):
    """Run a Python script in a real subprocess from its own folder; return the result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{path.name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def script():
    """``script(path, *args)`` runs a Python script in a real subprocess (see run_script)."""
    return run_script
