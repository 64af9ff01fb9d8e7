"""``labtrack ls`` and the command line's help, as a user types them (real subprocesses)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import labtrack
from tests.conftest import SRC


def cli(*args: str, cwd: Path, columns: int = 100) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "labtrack", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    for width, extra in ((32, {}), (64, {"note": "only here"}), (128, {})):
        config = {"lr": 0.1, "model": {"width": width}, **extra}
        with labtrack.start_run("sweep", name=f"w{width}", config=config, dir=root / "out") as run:
            run.log_metric("loss", 1.0 / width)
    with labtrack.start_run("sweep", name="long " * 40, config={"lr": 0.2}, dir=root / "out"):
        pass
    return root


def test_a_key_some_runs_lack_is_an_empty_cell_and_replaces_the_summary(store: Path) -> None:
    done = cli("ls", "out", "-c", "config.model.width,config.note", "--format", "csv", cwd=store)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert "summary" not in rows[0] and "object at 0x" not in done.stdout
    by_width = {r["config.model.width"]: r["config.note"] for r in rows}
    assert by_width == {"32": "", "64": "only here", "128": "", "": ""}


def test_the_table_fits_the_terminal_one_line_per_run(store: Path) -> None:
    done = cli("ls", "out", "-c", "config.lr", cwd=store, columns=100)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert sum("…" in line for line in lines) >= 1  # the long name is cut, not wrapped
    assert len([line for line in lines if "sweep" in line]) == 4


def test_json_output_for_scripts(store: Path) -> None:
    done = cli("ls", "out", "--format", "json", "--where", "config.model.width>=64", cwd=store)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert sorted(r["name"] for r in rows) == ["w128", "w64"]
    assert all(r["status"] == "completed" and r["summary"]["loss"] > 0 for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "finished"], "'finished' is not a status"),
        (["--where", "config.lr>>1"], "one operator per key"),
        (["--where", "config.lr<adam"], "compares numbers"),
        (["--where", "lr=0.1"], "did you mean config.lr"),
        (["--where", "width=64"], "did you mean config.model.width"),
    ],
)
def test_a_filter_that_can_never_match_is_an_error(
    store: Path, args: list[str], message: str
) -> None:
    done = cli("ls", "out", *args, cwd=store)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_a_key_no_run_has_is_a_warning_naming_the_closest(store: Path) -> None:
    done = cli("ls", "out", "--where", "config.lrr=0.1", cwd=store)
    assert done.returncode == 0
    assert "no listed run has 'config.lrr'; closest: config.lr" in done.stderr


def test_the_run_directory_ends_with_the_run_id(store: Path) -> None:
    (view,) = labtrack.Store(store / "out").runs(name="w32")
    assert view.dir.name == f"w32-{view.id}"
    done = cli("show", view.dir.name.split("-")[-1][:8], "--dir", "out", cwd=store)
    assert done.returncode == 0 and "sweep/w32" in done.stdout


@pytest.mark.parametrize("command", ["ls", "show", "export", "demo", "ui", "import"])
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    for flag in ("--help", "-h"):
        done = cli(command, flag, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"usage: labtrack {command}" in done.stdout
        if command != "import":
            assert "examples:" in done.stdout


def test_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("labtrack ")
