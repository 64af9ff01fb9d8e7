"""The public surface: one sorted __all__, every name resolvable, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import labtrack
from tests.conftest import SRC

HEAVY = [
    "numpy",
    "ray",
    "mlflow",
    "torch",
    "tensorboard",
    "tensorboardX",
    "aim",
    "matplotlib",
    "pandas",
    "pyarrow",
    "starlette",
    "uvicorn",
    "plotly",
    "pydantic",
    "yaml",
    "cloudpickle",
    "rich",
    "PIL",
    "sqlite3",
]


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert labtrack.__all__ == sorted(labtrack.__all__)
    core = ["Logger", "LogReader", "Run", "RunView", "Store", "current_run", "start_run"]
    assert set(core) <= set(labtrack.__all__)
    for name in core:
        assert getattr(labtrack, name) is not None


def test_import_labtrack_loads_nothing_heavy() -> None:
    code = (
        f"import sys, json, labtrack; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC)},
    )
    assert json.loads(out.stdout) == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = labtrack.no_such_thing


def test_a_run_that_logs_and_finishes_loads_nothing_heavy(tmp_path: Path) -> None:
    """Writing needs none of the heavy libraries: the first ``start_run`` of a process stays
    fast (numpy alone takes longer to import than the whole start)."""
    code = (
        "import sys, json, labtrack\n"
        "with labtrack.start_run('light', dir='store') as run:\n"
        "    run.log_metric('loss', 0.5)\n"
        "    run.log({'a': 1.0, 'b': float('nan')}, step=3)\n"
        "    run.log_text('note', 'hello')\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(SRC)},
    )
    assert json.loads(out.stdout) == []
    (run_dir,) = (tmp_path / "store" / "light").iterdir()
    view = labtrack.store.open_run(run_dir)
    assert view.status == "completed"
    assert view.scalars("loss").values.tolist() == [0.5]
    assert view.metrics["b"]["count"] == 1
