"""A failed run says why: the exception that ended a run is in its metadata (``RunView.error``).

Every way a recording process can fail is tried for real: a ``with`` block that raises, a
script that dies of an uncaught exception (no ``with``, no ``finish()``), Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import labtrack
from tests.conftest import run_python, start_python, wait_until_asleep


def train(run: labtrack.Run) -> None:
    run.log_metric("loss", 1.0)
    raise ValueError("bad lr")


def test_a_with_block_that_raises_records_the_exception(workdir: Path) -> None:
    with pytest.raises(ValueError, match="bad lr"), labtrack.start_run("e") as run:
        train(run)

    view = labtrack.Store().run(run.id)
    assert view.status == "failed"
    assert view.error is not None
    assert (view.error.type, view.error.message) == ("ValueError", "bad lr")
    assert str(view.error) == "ValueError: bad lr"
    # the traceback names this file and the line of the raise
    assert f'File "{__file__}"' in view.error.traceback
    assert 'raise ValueError("bad lr")' in view.error.traceback
    assert view.error.traceback.rstrip().endswith("ValueError: bad lr")
    assert view.scalars("loss").values.tolist() == [1.0]  # the data is kept as well


def test_a_completed_run_has_no_error(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        pass
    assert labtrack.Store().run(run.id).error is None


def test_a_script_that_dies_of_an_uncaught_exception_records_it(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import labtrack\n"
        "run = labtrack.start_run('e', dir='store')\n"
        "run.log_metric('loss', 0.5)\n"
        "def step(lr):\n"
        "    raise RuntimeError(f'diverged at lr={lr}')\n"
        "step(0.1)\n"
    )
    result = run_python(
        f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')", tmp_path
    )
    assert result.returncode == 1
    assert "RuntimeError: diverged at lr=0.1" in result.stderr  # Python still prints it

    (view,) = labtrack.Store(tmp_path / "store").runs()
    assert view.status == "failed", result.stderr
    assert view.error is not None
    assert str(view.error) == "RuntimeError: diverged at lr=0.1"
    assert f'File "{script}", line 5, in step' in view.error.traceback
    assert f'File "{script}", line 6' in view.error.traceback


def test_ctrl_c_is_killed_with_a_short_reason_not_failed(tmp_path: Path) -> None:
    result = run_python(
        """
        import labtrack
        run = labtrack.start_run("e", dir="store")
        raise KeyboardInterrupt
        """,
        tmp_path,
    )
    assert result.returncode != 0
    (view,) = labtrack.Store(tmp_path / "store").runs()
    assert view.status == "killed", result.stderr
    assert view.error is not None and view.error.type == "KeyboardInterrupt"


def test_ctrl_c_in_a_with_block_is_killed_with_a_short_reason(workdir: Path) -> None:
    with pytest.raises(KeyboardInterrupt), labtrack.start_run("e") as run:
        raise KeyboardInterrupt
    view = labtrack.Store().run(run.id)
    assert view.status == "killed"
    assert view.error is not None and view.error.type == "KeyboardInterrupt"


@pytest.mark.parametrize("with_block", [False, True])
def test_sigterm_is_killed_with_a_short_reason(tmp_path: Path, with_block: bool) -> None:
    # Short sleeps, as a training loop's steps are: on a machine loaded far beyond its cores,
    # CPython sometimes lets one long sleep run to its end before the handler (with or without
    # labtrack; see wait_until_asleep).
    wait = "for _ in range(600): time.sleep(0.1)"
    body = wait if not with_block else f"with run:\n            {wait}"
    proc = start_python(
        f"""
        import time, labtrack
        run = labtrack.start_run("e", dir="store")
        print("ready", flush=True)
        {body}
        """,
        tmp_path,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        wait_until_asleep(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    (view,) = labtrack.Store(tmp_path / "store").runs()
    assert view.status == "killed"
    assert view.error is not None and view.error.type == "SIGTERM"
    assert view.error.traceback == ""


def test_finish_failed_with_an_explicit_reason(workdir: Path) -> None:
    run = labtrack.start_run("e")
    run.finish("failed", error={"type": "NaNLoss", "message": "loss became NaN at step 7"})
    view = labtrack.Store().run(run.id)
    assert view.status == "failed"
    assert str(view.error) == "NaNLoss: loss became NaN at step 7"
