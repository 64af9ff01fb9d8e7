"""Many writer processes into one store at once, with a reader watching (no locks involved)."""

from __future__ import annotations

import time
from pathlib import Path

import labtrack
from tests.conftest import start_python

N_WRITERS = 8
POINTS = 20_000


def test_eight_writer_processes_and_a_live_reader(tmp_path: Path) -> None:
    procs = [
        start_python(
            f"""
            import labtrack
            with labtrack.start_run("concurrent", name="w{i}", dir="store", config={{"worker": {i}}}) as run:
                for step in range({POINTS}):
                    run.log({{"loss": step * 0.5, "acc": {i}.0}}, step=step)
                    if step % 2000 == 0:
                        run.log_text("progress", f"step {{step}}")
            """,
            tmp_path,
        )
        for i in range(N_WRITERS)
    ]
    store = labtrack.Store(tmp_path / "store")
    seen_running = False
    while any(p.poll() is None for p in procs):
        if (tmp_path / "store").exists():
            for view in store.runs():  # reading while they write never fails
                assert view.unreadable is None
                seen_running |= view.status == "running"
                if "loss" in view.scalar_tags:
                    steps = view.scalars("loss").steps
                    assert steps.tolist() == list(range(len(steps)))
        time.sleep(0.05)
    for proc in procs:
        assert proc.wait() == 0, proc.stderr.read()  # type: ignore[union-attr]

    views = store.runs(experiment="concurrent")
    assert len(views) == N_WRITERS
    for view in views:
        worker = view.config["worker"]
        assert view.status == "completed"
        assert view.scalars("loss").values.tolist() == [s * 0.5 for s in range(POINTS)]
        assert set(view.scalars("acc").values.tolist()) == {float(worker)}
        assert len(view.text("progress")) == POINTS // 2000
    assert [v.name for v in store.runs(where={"config.worker": 3})] == ["w3"]
    assert seen_running
