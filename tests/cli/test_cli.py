"""The labtrack command line, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

import labtrack
from tests.conftest import SRC, run_python


def labtrack_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "labtrack", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_then_ls_show_export(tmp_path: Path) -> None:
    demo = labtrack_cli("demo", "--steps", "50", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "recorded 3 run(s) into out" in demo.stdout and "labtrack ui out" in demo.stdout
    views = labtrack.Store(tmp_path / "out").runs(experiment="demo")
    assert len(views) == 3 and all(v.status == "completed" for v in views)
    assert all(
        v.figure_tags == ["eval/decision_boundary"] and v.text_tags == ["eval/report"]
        for v in views
    )
    assert all(v.artifacts()[0].kind == "model" for v in views)

    listing = labtrack_cli("ls", "out", "--where", "config.lr>0.1", "-c", "config.lr", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert (
        "2 run(s)" in listing.stdout
        and "lr=0.2" in listing.stdout
        and "lr=0.05" not in listing.stdout
    )

    target = views[0]
    shown = labtrack_cli("show", target.id[:8], "--dir", "out", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert target.id in shown.stdout and "train/loss: 50 points" in shown.stdout

    exported = labtrack_cli(
        "export", target.id, "--dir", "out", "--format", "parquet", "-o", "x.parquet", cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    frame = pd.read_parquet(tmp_path / "x.parquet")
    assert len(frame[frame.tag == "train/loss"]) == 50
    as_csv = labtrack_cli("export", target.id, "--dir", "out", cwd=tmp_path)
    assert as_csv.returncode == 0 and (tmp_path / f"{target.id}.csv").exists()


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    missing = labtrack_cli("ls", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"labtrack ls: error: store directory {tmp_path / 'nowhere'} does not exist"
    )
    bad_where = labtrack_cli("ls", ".", "--where", "config.lr", cwd=tmp_path)
    assert bad_where.returncode == 2 and "expected KEY=VALUE" in bad_where.stderr
    (tmp_path / "out").mkdir()
    unknown = labtrack_cli("show", "abc", "--dir", "out", cwd=tmp_path)
    assert unknown.returncode == 2 and "no run with id or path 'abc'" in unknown.stderr


FAILING = """
import labtrack
with labtrack.start_run("e", name="fine", dir="out") as run:
    run.summary["acc"] = 0.9
def train(lr):
    raise ValueError(f"bad lr [red]{lr}[/red] " + "x" * 100)
with labtrack.start_run("e", name="broken", dir="out"):
    train(0.5)
"""


def test_a_failed_run_says_why_in_show_and_a_short_form_in_ls(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(FAILING)
    recorded = run_python(f"import runpy; runpy.run_path({str(script)!r})", tmp_path)
    assert "ValueError" in recorded.stderr
    runs = {v.name: v for v in labtrack.Store(tmp_path / "out").runs()}
    broken = runs["broken"]

    shown = labtrack_cli("show", broken.id, "--dir", "out", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    # the error as one line (brackets in the message are text, not markup), then the traceback
    assert f"error:    ValueError: bad lr [red]0.5[/red] {'x' * 100}" in lines
    assert "Traceback (most recent call last):" in lines
    assert '    raise ValueError(f"bad lr [red]{lr}[/red] " + "x" * 100)' in lines
    assert lines[lines.index("Traceback (most recent call last):") - 1].startswith("error:")
    assert f'File "{script}", line 6, in train' in shown.stdout
    fine_shown = labtrack_cli("show", runs["fine"].id, "--dir", "out", cwd=tmp_path)
    assert "error:" not in fine_shown.stdout and "Traceback" not in fine_shown.stdout

    listing = labtrack_cli("ls", "out", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    header = next(line for line in listing.stdout.splitlines() if " id " in line)
    assert "error" in header.split()
    (row,) = [line for line in listing.stdout.splitlines() if broken.id in line]
    assert "ValueError: bad lr [red]0.5[/red] xxx" in row and "…" in row  # one line, cut short
    assert "x" * 100 not in listing.stdout
    (fine_row,) = [line for line in listing.stdout.splitlines() if runs["fine"].id in line]
    assert "acc=0.9" in fine_row

    only_completed = labtrack_cli("ls", "out", "--status", "completed", cwd=tmp_path)
    header = next(line for line in only_completed.stdout.splitlines() if " id " in line)
    assert "error" not in header.split()  # no failed run listed, no error column
