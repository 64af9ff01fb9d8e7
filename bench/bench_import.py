"""How long ``import labtrack`` takes, and that it loads nothing heavy.

    python bench/bench_import.py [--repeat 20]

Runs ``python -X importtime -c "import labtrack"`` in fresh interpreters and prints the median
cumulative import time of the ``labtrack`` package (target: under 150 ms), next to the import
time of the libraries labtrack keeps out of that path.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'module':<12} {'median ms':>10} {'min ms':>8}   ({args.repeat} fresh interpreters)")
    for module in ("labtrack", "numpy", "pydantic", "mlflow", "ray"):
        try:
            times = [
                import_time_us(module) / 1000
                for _ in range(args.repeat if module == "labtrack" else 3)
            ]
        except (subprocess.CalledProcessError, RuntimeError):
            print(f"{module:<12} {'not installed':>10}")
            continue
        print(f"{module:<12} {statistics.median(times):>10.1f} {min(times):>8.1f}")


if __name__ == "__main__":
    main()
