"""One writer per run: taking over a run is one atomic step, with no file lock."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import labtrack
from labtrack.errors import RunLockedError
from tests.conftest import start_python


def test_a_finished_run_is_resumed_and_a_live_one_refused(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as first:
        first.log_metric("a", 1.0)
    with labtrack.start_run("e", run_dir=first.dir) as second:
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}.*this process"):
            labtrack.start_run("e", run_dir=first.dir)
        second.log_metric("a", 2.0)
    for _ in range(3):  # resuming again and again keeps the folder small
        with labtrack.start_run("e", run_dir=first.dir) as again:
            again.log_metric("a", 3.0)
    claims = [
        p.name for p in (first.dir / ".labtrack").iterdir() if p.name[:5] in ("claim", "relea")
    ]
    assert len(claims) <= 4
    view = labtrack.store.open_run(first.dir)
    assert view.scalars("a").values.tolist() == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert view.status == "completed" and len(view.meta["resumed"]) == 4


RACER = """
import sys, time
import labtrack
from labtrack.errors import RunLockedError
run_dir, start, me = sys.argv[1], float(sys.argv[2]), sys.argv[3]
while time.time() < start:
    pass
try:
    run = labtrack.start_run("e", run_dir=run_dir)
except RunLockedError:
    print("refused", flush=True)
    sys.exit(0)
for step in range(50):
    run.log_metric("only-" + me, float(step) + (0.25 if me == "x" else 0.75), step=step)
time.sleep(0.6)  # still writing when the other process tries
run.finish()
print("accepted", flush=True)
"""


def test_two_processes_resuming_at_the_same_instant_never_both_win(tmp_path: Path) -> None:
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    for trial in range(8):
        with labtrack.start_run("e", dir=tmp_path, name=f"t{trial}") as run:
            run.log_metric("base", 1.0)
        start = time.time() + 0.7
        argv = "import runpy, sys; sys.argv = ['r', {!r}, '{}', '{}']; runpy.run_path({!r})"
        procs = [
            start_python(argv.format(str(run.dir), start, me, str(script)), tmp_path)
            for me in ("x", "y")
        ]
        outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
        assert outcomes == ["accepted", "refused"], (trial, [p.returncode for p in procs])
        view = labtrack.store.open_run(run.dir)
        (winner,) = [t for t in view.scalar_tags if t.startswith("only-")]
        offset = 0.25 if winner == "only-x" else 0.75
        assert view.scalars(winner).values.tolist() == [s + offset for s in range(50)]
        assert view.scalars("base").values.tolist() == [1.0]
