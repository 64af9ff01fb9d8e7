"""Runner speed: overhead per config by executor, cache decisions, Tensor queries, vs Hydra.

    PYTHONPATH=src python bench/bench_runner.py            # full (200 configs per sweep)
    PYTHONPATH=src python bench/bench_runner.py --quick    # smaller, for a smoke run

Prints medians of a few repeats and the ratios to the targets in docs/runner.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import labtrack
from labtrack import Tensor
from labtrack.runner import cache


def noop(config):
    return None


def sweep_overhead(executor: str, n: int, repeats: int, workers: int) -> float:
    """Median seconds per config of an n-config no-op sweep (the function itself takes ~0)."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            exp = labtrack.experiment(
                noop, name="bench", executor=executor, timestamp=False, output_dir=d
            )
            cfgs = [{"name": f"c{i}", "i": i} for i in range(n)]
            t0 = time.perf_counter()
            exp.run(configs=cfgs, argv=["-j", str(workers)])
            times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def cache_decision(n: int, repeats: int) -> float:
    """Seconds to decide that n completed configs are all cached (plan + read results)."""
    with tempfile.TemporaryDirectory() as d:
        cfgs = [{"name": f"c{i}", "lr": i / n, "model": {"width": i % 7}} for i in range(n)]
        root = Path(d) / "bench"
        for c in cfgs:
            digest = cache.config_hash(c)
            out = root / cache.dir_name(c["name"], digest)
            cache.write_result(
                out / cache.RESULT_FILE, {"name": c["name"], "config": c, "acc": 1.0}
            )
        exp = labtrack.experiment(
            noop, name="bench", executor="inline", timestamp=False, output_dir=d
        )
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            results = exp.run(configs=cfgs, argv=[])
            times.append(time.perf_counter() - t0)
            assert len(results) == n
            assert not any(r.get("__error__") for r in results)
    return statistics.median(times)


def tensor_query(n: int, repeats: int) -> float:
    data = [
        {"name": f"r{i}", "config": {"learning_rate": (i % 10) / 10, "epochs": i % 7}, "acc": i}
        for i in range(n)
    ]
    t = Tensor(data, shape=(n // 100, 100))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        hits = t[{"config.learning_rate": 0.1, "config.epochs": 3}]
        times.append(time.perf_counter() - t0)
        assert len(hits) > 0
    return statistics.median(times)


HYDRA_APP = textwrap.dedent(
    """
    import hydra
    from omegaconf import DictConfig

    @hydra.main(version_base=None, config_path=None, config_name=None)
    def main(cfg: DictConfig) -> None:
        return None

    if __name__ == "__main__":
        main()
    """
)


def hydra_multirun(n: int) -> float:
    """Seconds per config of Hydra's multirun (basic launcher) over n no-op jobs."""
    with tempfile.TemporaryDirectory() as d:
        app = Path(d) / "app.py"
        app.write_text(HYDRA_APP)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(app), "-m", f"+i=range(0,{n})", "hydra.job.chdir=False"],
            cwd=d,
            check=True,
            capture_output=True,
        )
        return (time.perf_counter() - t0) / n


def runner_script(n: int, executor: str) -> float:
    """Seconds per config of the same sweep as a script (``python main.py``), start-up included."""
    script = textwrap.dedent(
        f"""
        import labtrack

        @labtrack.experiment(name="bench", executor={executor!r}, timestamp=False)
        def noop(config):
            return None

        if __name__ == "__main__":
            noop.run(configs=[{{"name": f"c{{i}}", "i": i}} for i in range({n})])
        """
    )
    with tempfile.TemporaryDirectory() as d:
        main = Path(d) / "main.py"
        main.write_text(script)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(main)], cwd=d, check=True, capture_output=True, env=env)
        return (time.perf_counter() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    n = 40 if args.quick else 200
    reps = 1 if args.quick else 3
    cores = os.cpu_count() or 1
    print(
        f"runner benchmark: {n}-config no-op sweeps, {cores} cores, Python {sys.version.split()[0]}"
    )
    rows = [
        ("inline", 1, 1e-3),
        ("fork", 1, 30e-3),
        ("fork", cores, 30e-3),
        ("subprocess", 1, 300e-3),
        ("subprocess", cores, 300e-3),
    ]
    for executor, workers, target in rows:
        per = sweep_overhead(executor, n, reps, workers)
        print(
            f"  {executor:<10} -j {workers}: {per * 1e3:8.2f} ms/config   target <= {target * 1e3:.0f} ms   ratio {per / target:.2f}"
        )
    cached_n = 2000 if args.quick else 10_000
    secs = cache_decision(cached_n, reps)
    print(
        f"  cache decision, {cached_n} completed configs: {secs:.3f} s   target <= 2 s   ratio {secs / 2:.2f}"
    )
    q = tensor_query(100_000, 5)
    print(
        f"  Tensor dict query, 100,000 results: {q * 1e3:.1f} ms   target <= 100 ms   ratio {q / 0.1:.2f}"
    )
    hydra = hydra_multirun(n)
    ours_sub = runner_script(n, "subprocess")
    ours_fork = runner_script(n, "fork")
    print(
        f"  Hydra multirun (basic launcher), {n} jobs: {hydra * 1e3:.2f} ms/config (one process, no isolation, no cache)"
    )
    print(
        f"  labtrack script, subprocess executor: {ours_sub * 1e3:.2f} ms/config   ratio to Hydra {ours_sub / hydra:.2f}"
    )
    print(
        f"  labtrack script, fork executor:       {ours_fork * 1e3:.2f} ms/config   ratio to Hydra {ours_fork / hydra:.2f}"
    )


if __name__ == "__main__":
    main()
