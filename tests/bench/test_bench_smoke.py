"""The store benchmark runs end to end at tiny sizes and prints its summary table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "bench_store.py"


def run_quick(script: Path, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a benchmark script with ``--quick`` as a user would, from another directory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_quick_benchmark_prints_the_summary_table(tmp_path: Path) -> None:
    done = run_quick(SCRIPT, tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "## Summary (Markdown)" in out
    summary = out.split("## Summary (Markdown)", 1)[1]
    assert "| Workload" in summary
    assert "| One scalar per call, us" in summary
    assert "| Filter 200 runs by config.lr, catalog, ms" in summary
    # every labtrack figure is a number, not a dash left by a missing measurement
    first_row = next(line for line in summary.splitlines() if line.startswith("| One scalar"))
    labtrack_cell = first_row.split("|")[2].strip()
    assert labtrack_cell not in ("", "-")
    float(labtrack_cell.replace(",", ""))


SOAK = ROOT / "bench" / "soak.py"


@pytest.mark.slow
def test_quick_soak_prints_every_figure_and_finds_no_violation(tmp_path: Path) -> None:
    done = run_quick(SOAK, tmp_path, timeout=300)
    out = done.stdout
    for row in (
        "| crash window",
        "| SIGKILLs",
        "| points lost outside the window",
        "| max loss window observed, ms",
        "| concurrency",
        "| writer processes / reader processes",
        "| claim race",
        "| races with two winners / none",
        "| corruption fuzz",
        "|   data_bitflip",
        "|   meta_wrong_type",
        "| mutations raising undocumented exceptions",
        "| hangs (no answer within the time limit)",
        "| wrong values returned silently",
        "| time taken, s",
    ):
        assert row in out, f"{row!r} missing from:\n{out[-3000:]}{done.stderr[-2000:]}"
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]  # 1: violations found
