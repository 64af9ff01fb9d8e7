"""examples/media runs as a script and leaves what its docstring promises, in files and the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import labtrack

ROOT = Path(__file__).resolve().parents[2]


def test_record_cartpole_example(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "media" / "record_cartpole.py"),
            "--episodes",
            "3",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best return" in done.stdout
    (view,) = labtrack.Store(tmp_path / "out").runs()
    assert view.status == "completed"
    assert [v.step for v in view.videos("episode")] == [0, 2]  # every 20th and the last
    assert [v.step for v in view.videos("cartpole/episode")] == [0, 2]
    assert len(view.scalars("episode/reward").values) == 3
    assert view.figure_tags == ["cartpole/reward_curve"]
    media = tmp_path / "out" / "media"
    assert len(list((media / "animations").glob("cartpole_episode_0000_*.gif"))) == 1
    assert (media / "curves" / "cartpole_reward_history.json").is_file()
