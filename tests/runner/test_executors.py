from __future__ import annotations

import os
import pickle
import textwrap
from pathlib import Path

import pytest

import labtrack
from labtrack import (
    Executor,
    ForkExecutor,
    InlineExecutor,
    RayExecutor,
    SubprocessExecutor,
    get_executor,
)

SCRIPT = textwrap.dedent(
    """
    import ctypes, os, sys
    import labtrack
    from labtrack import build, register

    @register
    class Scale:
        def __init__(self, factor=1):
            self.factor = factor

    def helper(x):  # a module-level helper of the script, used inside the workers
        return x * 10

    @labtrack.experiment(name="crashy")
    def experiment(config):
        print("pid", os.getpid(), flush=True)
        mode = config.mode
        if mode == "raise":
            raise ValueError("bad value")
        if mode == "exit":
            os._exit(7)
        if mode == "segfault":
            ctypes.string_at(0)
        scale = build(Scale, config.scale)
        return {"value": helper(scale.factor), "pid": os.getpid()}

    @experiment.configs
    def configs():
        return [{"name": m, "mode": m, "scale": {"type": "Scale", "factor": 2}}
                for m in ("ok", "raise", "exit", "segfault")]

    @experiment.report
    def report(results):
        for r in results:
            print("REPORT", r["name"], r.get("type") or r["value"], r.get("message", ""))
        assert all(r["pid"] != os.getpid() for r in results if not r.get("__error__"))

    if __name__ == "__main__":
        experiment.run()
    """
)


@pytest.mark.parametrize("executor", ["subprocess", "fork"])
def test_crashes_become_error_records_and_the_sweep_goes_on(tmp_path, executor, script):
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    proc = script(main, "--executor", executor, "--no-timestamp", "-j", "2", check=False)
    assert proc.returncode == 1  # after the report, the shell sees the failures
    assert proc.stderr.rstrip().endswith("crashy: 3 of 4 configs failed")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT")]
    assert lines[0] == "REPORT ok 20 "
    assert lines[1].startswith("REPORT raise ValueError bad value")
    assert lines[2].startswith("REPORT exit WorkerCrashed") and "exit code 7" in lines[2]
    assert lines[3].startswith("REPORT segfault WorkerCrashed") and "SIGSEGV" in lines[3]
    statuses = {v.name: v.status for v in labtrack.Store(tmp_path / "out").runs()}
    assert statuses == {
        "ok": "completed",
        "raise": "failed",
        "exit": "failed",
        "segfault": "failed",
    }
    # continuing runs only the failed ones again
    again = script(main, "--executor", executor, "--no-timestamp", check=False)
    assert "4 configs, 1 cached" in again.stderr


def test_subprocess_runs_each_config_in_a_fresh_interpreter_with_output_captured(tmp_path):
    @labtrack.experiment(executor=SubprocessExecutor(), timestamp=False)
    def where(config):
        print("hello stdout")
        import sys

        print("hello stderr", file=sys.stderr)
        return {"pid": os.getpid()}

    results = where.run(configs=[{"name": "a"}, {"name": "b"}], argv=[])
    assert all(r["pid"] != os.getpid() for r in results)
    out = results["a"]["config"].out
    assert (out / "stdout.log").read_text().strip() == "hello stdout"
    assert "hello stderr" in (out / "stderr.log").read_text()
    assert not (out / ".labtrack-task.pkl").exists()
    view = labtrack.Store("out").run(out)
    assert view.text("stdout")[0].text.strip() == "hello stdout"


def test_fork_sees_the_parents_module_state(tmp_path):
    state = {"loaded": "in parent only"}

    @labtrack.experiment(executor="fork", timestamp=False)
    def forked(config):
        return {"state": state["loaded"], "pid": os.getpid()}

    results = forked.run(configs=[{"name": "a"}], argv=[])
    assert results[0]["state"] == "in parent only" and results[0]["pid"] != os.getpid()


def test_no_capture_streams_output_instead_of_keeping_it(tmp_path, capfd):
    @labtrack.experiment(executor="subprocess", timestamp=False)
    def loud(config):
        print("live output", flush=True)

    loud.run(configs=[{"name": "a"}], argv=["-s"])
    captured = capfd.readouterr()
    assert "live output" in captured.out
    assert "[labtrack 1/1] a: done" in captured.err
    assert not list(Path("out").glob("*/*/stdout.log"))


def test_custom_executor_subclass(tmp_path):
    class MyExecutor(Executor):
        def __init__(self):
            self.seen = []

        def run(self, fn, config, result_path):
            self.seen.append(config.name)
            result = fn(config)
            with open(result_path, "wb") as f:
                pickle.dump(result, f)
            return result

    ex = MyExecutor()

    @labtrack.experiment(timestamp=False)
    def double(config):
        return {"y": 2 * config.x}

    results = double.run(
        configs=[{"name": "a", "x": 1}, {"name": "b", "x": 2}], executor=ex, argv=[]
    )
    assert ex.seen == ["a", "b"] and [r["y"] for r in results] == [2, 4]
    assert labtrack.Store("out").runs()[0].status == "completed"


def test_get_executor_names():
    assert isinstance(get_executor("inline"), InlineExecutor)
    assert isinstance(get_executor(None), SubprocessExecutor)
    assert isinstance(get_executor("fork"), ForkExecutor)
    ray_client = get_executor("ray://cluster:10001")
    assert isinstance(ray_client, RayExecutor) and ray_client.address == "ray://cluster:10001"
    assert get_executor("ray:auto").address == "auto"
    assert get_executor("ray").address is None
    ex = InlineExecutor()
    assert get_executor(ex) is ex
