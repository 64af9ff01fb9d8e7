from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import labtrack

SCRIPT = textwrap.dedent(
    """
    import os, time
    import labtrack

    @labtrack.experiment(name="long")
    def experiment(config):
        if config.slow:
            time.sleep(float(os.environ.get("SLOW_SECONDS", "60")))
        return {"done": config.name}

    @experiment.configs
    def configs():
        return [{"name": n, "slow": n in ("c", "d")} for n in "abcd"]

    if __name__ == "__main__":
        experiment.run()
    """
)
SRC = str(Path(__file__).resolve().parents[2] / "src")


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("executor", ["subprocess", "fork", "inline"])
def test_ctrl_c_keeps_finished_results_marks_in_flight_killed_and_continue_resumes(
    tmp_path, executor
):
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": SRC}
    args = [sys.executable, str(main), "--executor", executor, "--timestamp", "ts", "-j", "4"]
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    root = tmp_path / "out" / "long" / "ts"

    def status(name):
        views = [v for v in labtrack.Store(root).runs() if v.name == name] if root.exists() else []
        return views[0].status if views else None

    try:
        wait_for(
            lambda: (
                status("a") == "completed"
                and status("b") == "completed"
                and status("c") == "running"
            )
        )
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "interrupted: 2 results kept" in err
    assert "--timestamp ts" in err
    assert status("c") == "killed"
    (stopped,) = [v for v in labtrack.Store(root).runs() if v.name == "c"]
    assert stopped.error is not None and stopped.error.type == "KeyboardInterrupt"  # why
    assert status("d") in ("killed", None)  # in flight (parallel) or never started (inline)
    assert not list(root.glob("c-*/result.pkl"))

    done = subprocess.run(
        args,
        cwd=tmp_path,
        env={**env, "SLOW_SECONDS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "4 configs, 2 cached" in done.stderr
    assert {status(n) for n in "abcd"} == {"completed"}
    assert all(v.error is None for v in labtrack.Store(root).runs())  # the reason went with it
