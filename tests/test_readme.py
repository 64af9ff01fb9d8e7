"""Every example in the README runs, in order, in one fresh directory (as a newcomer would)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SRC

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.S)
# Commands in bash blocks that are not examples to execute here: installing, the test suite
# itself, CI, and servers that run until stopped (tested in tests/viewer with a real browser).
NOT_RUN = (
    "pip ",
    "python -m pytest",
    "bash .ci/run",
    "labtrack ui",
    "apt-get",
    "python -m labtrack.viewer",
)


def blocks() -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in BLOCK.findall(README.read_text())]


def commands(body: str) -> list[str]:
    out = []
    for line in body.splitlines():
        line = line.split("  #", 1)[0].strip()
        for part in line.split("&&"):
            part = part.strip()
            if part and not part.startswith("#") and not part.startswith(NOT_RUN):
                out.append(part)
    return out


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg", "LABTRACK_EXAMPLE_QUICK": "1"}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    ran = 0
    for index, (kind, body) in enumerate(blocks()):
        if kind == "python":
            first = body.splitlines()[0]
            named = first.startswith("# ") and first.endswith(".py")
            script = tmp_path / (first[2:] if named else f"readme_example_{index}.py")
            script.write_text(body)
            argv = [[sys.executable, str(script)]]
        else:
            argv = [
                [sys.executable, "-m", "labtrack", *shlex.split(c)[1:]]
                if c.startswith("labtrack ")
                else shlex.split(c)
                for c in commands(body)
            ]
        for command in argv:
            result = subprocess.run(
                command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, (
                f"README block {index} ({kind}) failed: {command}\n{body}\n{result.stdout}\n{result.stderr}"
            )
            ran += 1
    assert ran >= 5
