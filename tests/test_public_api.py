"""The public surface: one sorted __all__, every name resolvable, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys

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
