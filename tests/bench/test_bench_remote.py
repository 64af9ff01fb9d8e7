"""The remote-writer benchmark runs end to end at tiny sizes: real Ray, real ingest actor, every
run read back, and a summary whose figures are numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "bench_remote.py"
APIS = ("log", "log_metric", "log_points")
STORES = ("local store", "ingest actor")


@pytest.mark.slow
@pytest.mark.ray
def test_quick_remote_benchmark_reads_back_every_point(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(figures)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    summary = done.stdout.split("## Summary (Markdown)", 1)[1]
    rows = {
        (cells[0], cells[1]): cells
        for line in summary.splitlines()
        if line.startswith("| ") and not line.startswith("| API")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    expected = {("-", "list.append")} | {(api, store) for api in APIS for store in STORES}
    assert set(rows) == expected
    for (api, store), cells in rows.items():
        rate, worker_cpu = cells[2], cells[4]
        assert float(rate.replace(",", "")) > 0, (api, store)
        assert float(worker_cpu.replace(",", "")) > 0, (api, store)
        assert cells[8] == "40,000", (api, store)  # 2 writers x 20,000 points, all read back
        if store == "ingest actor":
            assert cells[6] not in ("", "-"), "the ingest actor's CPU is measured"

    doc = json.loads(figures.read_text())
    assert (doc["writers"], doc["points"]) == (2, 20_000)
    assert {(s["api"], s["store"]) for s in doc["series"]} == expected
    for series in doc["series"]:
        for sample in series["samples"]:
            assert sample["points"] == sample["read_back"] == 40_000
            assert sample["seconds"] > 0
        if series["store"] != "list.append":
            # every flush is a record: at least one per writer's run
            assert series["records_per_run"] >= 1
