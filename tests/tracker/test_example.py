"""The documented usage example runs as a user would run it, twice: the second run resumes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import labtrack

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tracker" / "rl_training_loop.py"
SRC = Path(__file__).resolve().parents[2] / "src"

pytest.importorskip("ray")


@pytest.mark.ray
@pytest.mark.slow
def test_usage_example_runs_and_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "EXAMPLE_STEPS": "100", "EXAMPLE_SLEEP": "0"}

    def run() -> str:
        done = subprocess.run(
            [sys.executable, str(EXAMPLE)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    first = run()
    assert "TrackerActor ready. MLflow Run ID:" in first
    second = run()
    assert "Resuming from Checkpoint: Step=100, Episodes=10" in second
    assert "Loaded Buffer: 100 items" in second

    runs = labtrack.Store(tmp_path / ".my_app_data").runs(experiment="my_rl_app")
    assert len(runs) == 2 and {r.status for r in runs} == {"completed"}
    for view in runs:
        assert "Loss/Total" in view.scalar_tags and "Custom/MyValue" in view.scalar_tags
    newest = max(runs, key=lambda r: r.start_time)
    assert newest.scalars("Custom/MyValue").steps.max() == 200
