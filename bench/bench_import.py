"""What starting labtrack costs a new process, and that it loads nothing heavy.

    python bench/bench_import.py [--repeat 20]

Three figures, each the median over fresh interpreters (the first start of a process is what a
user waits for; a warm process pays none of it):

* ``import labtrack``, as ``python -X importtime`` reports it: the package itself, which loads
  its parts on first use.
* the first ``start_run`` of a process, wall time from before ``import labtrack`` to the run
  being open (the writer's modules, the run directory, its claim and metadata): what a user's
  script waits for before its first step.
* the whole process, ``python -c "import labtrack; start_run(...).finish()"``, beside
  ``python -c pass`` in the same run (the interpreter's own start-up: the floor).

The import times of the libraries labtrack keeps out of those paths are printed for scale.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

FIRST_RUN = """
import time, sys
began = time.perf_counter()
import labtrack
run = labtrack.start_run("bench", dir=sys.argv[1])
opened = time.perf_counter()
run.log_metric("loss", 0.5)
run.finish()
print((opened - began) * 1000)
"""


def import_time_us(module: str) -> int:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(out.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1])
    raise RuntimeError(f"no import time line for {module}")


def first_start_run_ms(store: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_RUN, store], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def process_ms(code: str, *args: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    return (time.perf_counter() - began) * 1000


def row(label: str, times: list[float]) -> None:
    print(f"{label:<58} {statistics.median(times):>9.1f} {min(times):>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    n = args.repeat
    print(f"{'measure (fresh interpreters)':<58} {'median ms':>9} {'min ms':>8}   ({n} each)")
    with tempfile.TemporaryDirectory() as store:
        first_start_run_ms(store)  # writes the bytecode caches, as any second run finds them
        row(
            "import labtrack (-X importtime)", [import_time_us("labtrack") / 1000 for _ in range(n)]
        )
        row(
            "first start_run: import labtrack + open the run",
            [first_start_run_ms(store) for _ in range(n)],
        )
        whole = "import labtrack, sys; labtrack.start_run('bench', dir=sys.argv[1]).finish()"
        row(
            "process: python -c 'start_run(...).finish()'",
            [process_ms(whole, store) for _ in range(n)],
        )
        row("process: python -c pass (the floor)", [process_ms("pass") for _ in range(n)])
    for module in ("numpy", "pydantic", "mlflow", "ray"):
        try:
            times = [import_time_us(module) / 1000 for _ in range(3)]
        except (subprocess.CalledProcessError, RuntimeError):
            print(f"import {module:<51} {'not installed':>9}")
            continue
        row(f"import {module} (-X importtime, for scale)", times)


if __name__ == "__main__":
    main()
