"""A failed config says why, on every local executor: in its run's metadata and its stderr.log.

Each test runs a real sweep from a script (``python main.py --executor ...``), the way a user
runs one, then reads the runs back with ``labtrack.Store``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import labtrack

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import labtrack

    @labtrack.experiment(name="errs", timestamp=False)
    def experiment(config):
        print("starting", config.name, flush=True)
        if config.mode == "raise":
            raise ValueError(f"bad lr {config.lr}")
        if config.mode == "exit":
            os._exit(3)
        if config.mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if config.mode == "unpicklable":
            return {"f": lambda: None, "lock": __import__("threading").Lock()}
        return {"ok": True}

    @experiment.configs
    def configs():
        return [{"name": m, "mode": m, "lr": 0.5} for m in sys.argv[-1].split(",")]

    if __name__ == "__main__":
        experiment.run(argv=sys.argv[1:-1])
    """
)
RAISE_LINE = SCRIPT.splitlines().index('        raise ValueError(f"bad lr {config.lr}")') + 1


def sweep(tmp_path: Path, script, executor: str, modes: str) -> dict[str, labtrack.RunView]:
    main = tmp_path / "main.py"
    main.write_text(SCRIPT)
    script(main, "--executor", executor, modes)
    return {v.name: v for v in labtrack.Store(tmp_path / "out").runs()}


@pytest.mark.parametrize("executor", ["inline", "fork", "subprocess"])
def test_a_config_that_raises_records_the_exception_and_its_traceback(tmp_path, script, executor):
    runs = sweep(tmp_path, script, executor, "ok,raise")
    assert runs["ok"].status == "completed" and runs["ok"].error is None

    failed = runs["raise"]
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error.type, failed.error.message) == ("ValueError", "bad lr 0.5")
    main = tmp_path / "main.py"
    # the traceback names the user's script, line and source (also for functions of a script's
    # __main__, which travel by value to subprocess workers)
    assert f'File "{main}", line {RAISE_LINE}, in experiment' in failed.error.traceback
    assert 'raise ValueError(f"bad lr {config.lr}")' in failed.error.traceback

    # the same traceback is in the config's stderr.log, after what the function printed
    out = failed.dir
    assert (out / "stdout.log").read_text() == "starting raise\n"
    stderr_log = (out / "stderr.log").read_text()
    assert failed.error.traceback in stderr_log
    assert failed.text("stderr")[0].text == stderr_log  # and in the run's "stderr" text
    ok_stderr = runs["ok"].dir / "stderr.log"
    assert not ok_stderr.exists() or ok_stderr.read_text() == ""  # nothing failed, no traceback


@pytest.mark.parametrize("executor", ["fork", "subprocess"])
def test_a_config_that_dies_without_an_exception_records_how(tmp_path, script, executor):
    runs = sweep(tmp_path, script, executor, "exit,sigkill")
    for name, how in (("exit", "exit code 3"), ("sigkill", "signal SIGKILL")):
        view = runs[name]
        assert view.status == "failed"
        assert view.error is not None and view.error.type == "WorkerCrashed"
        assert how in view.error.message
        stderr_log = (view.dir / "stderr.log").read_text()
        assert f"labtrack: WorkerCrashed: the worker process died ({how})" in stderr_log


def test_an_unpicklable_result_records_the_serialization_error(tmp_path, script):
    runs = sweep(tmp_path, script, "subprocess", "unpicklable")
    view = runs["unpicklable"]
    assert view.status == "failed"
    assert view.error is not None and view.error.type == "SerializationError"
    assert view.error.traceback in (view.dir / "stderr.log").read_text()


def test_a_config_fixed_and_continued_no_longer_reports_the_old_error(tmp_path):
    broken = {"yes": True}

    @labtrack.experiment(name="flaky", executor="inline", timestamp=False)
    def flaky(config):
        if broken["yes"]:
            raise RuntimeError("not yet")
        return {"ok": True}

    flaky.run(configs=[{"name": "a"}], argv=[])
    (view,) = labtrack.Store("out").runs()
    assert view.status == "failed" and str(view.error) == "RuntimeError: not yet"

    broken["yes"] = False
    flaky.run(configs=[{"name": "a"}], argv=[])  # the failed config runs again
    (view,) = labtrack.Store("out").runs()
    assert view.status == "completed"
    assert view.error is None
