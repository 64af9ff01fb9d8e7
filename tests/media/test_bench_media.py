"""bench/bench_media.py runs end to end at a small size and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_media_benchmark_prints_every_row(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_media.py"), "--quick"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("## Summary (Markdown)", 1)[1]
    for row in ("labtrack mp4, 320 px", "labtrack gif, 320 px", "gymnasium RecordVideo"):
        assert f"| {row}" in table
