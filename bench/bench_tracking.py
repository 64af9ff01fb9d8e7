"""The tracking API's costs, side by side in one run.

1. Cost per ``log_metric`` through the facade (sync and async) for each backend: labtrack's
   store, Aim, MLflow (SQLite). Backends whose package is missing are shown as such.
2. Stable-Baselines3 PPO on CartPole-v1: environment steps per CPU second of this process with
   no callback, with ``TrackingCallback`` (evaluation and checkpoints off: what the tracking
   itself costs), and with SB3's own TensorBoard logger, interleaved and repeated (medians).
   On a shared machine the differences between those rates are noise of a few percent, so the
   callback's cost is also measured directly: the CPU time spent inside its hooks and its
   logger output, as a share of training time. It must stay within 5%. (The labtrack writer's
   background thread is in the process's CPU time, so in the rates, not in that share.)

    python bench/bench_tracking.py            # about two minutes
    python bench/bench_tracking.py --quick    # seconds, to check it runs
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from labtrack.tracking import MLTracker, SyncMLTracker, create_backend


def _backend(name: str, root: Path):
    if name == "aim":
        return create_backend("aim", repo_path=root / "aim")
    if name == "mlflow":
        return create_backend("mlflow", tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return create_backend("labtrack", storage_path=root / "store")


def log_metric_costs(n: int) -> list[tuple[str, str, str]]:
    rows = []
    for name, module in (("labtrack", None), ("aim", "aim"), ("mlflow", "mlflow")):
        if module and importlib.util.find_spec(module) is None:
            rows.append((name, "not installed", "not installed"))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            backend = _backend(name, Path(tmp))
            sync = SyncMLTracker(backend)
            run = sync.create_run("bench", {"n": n})
            sync.log_metric(run, "warmup", 0.0, step=0)
            started = time.perf_counter()
            for i in range(n):
                sync.log_metric(run, "loss", 1.0 / (i + 1), step=i)
            sync_us = (time.perf_counter() - started) / n * 1e6

            async def timed() -> float:
                tracker = MLTracker(backend)
                arun = await tracker.create_run("bench-async", {"n": n})
                t0 = time.perf_counter()
                for i in range(n):
                    await tracker.log_metric(arun, "loss", 1.0 / (i + 1), step=i)
                took = time.perf_counter() - t0
                await tracker.finish_run(arun)
                return took

            async_us = asyncio.run(timed()) / n * 1e6
            sync.finish_run(run)
            asyncio.run(backend.close())
        rows.append((name, f"{sync_us:,.1f}", f"{async_us:,.1f}"))
    return rows


class _Timed:
    """Seconds spent inside a TrackingCallback's hooks and its logger output (CPU time)."""

    def __init__(self, callback) -> None:
        self.seconds = 0.0
        for name in ("_on_training_start", "_on_step", "_on_training_end", "_record"):
            setattr(callback, name, self._wrap(getattr(callback, name)))

    def _wrap(self, fn):
        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started

        return timed


def sb3_rates(steps: int, repeats: int) -> tuple[dict[str, list[float]], list[float]] | None:
    """Steps per CPU second of this process (other processes on a busy machine do not count),
    and the share of training CPU time spent inside the callback."""
    if importlib.util.find_spec("stable_baselines3") is None:
        return None
    import torch
    from stable_baselines3 import PPO

    from labtrack.integrations.sb3 import TrackingCallback

    torch.set_num_threads(1)
    rates: dict[str, list[float]] = {
        "no callback": [],
        "TrackingCallback": [],
        "SB3 TensorBoard": [],
    }
    shares: list[float] = []
    for _ in range(repeats):
        for label in rates:
            with tempfile.TemporaryDirectory() as tmp:
                kwargs = {"tensorboard_log": tmp} if label == "SB3 TensorBoard" else {}
                model = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **kwargs)
                callback = timer = None
                if label == "TrackingCallback":
                    tracker = SyncMLTracker(_backend("labtrack", Path(tmp)))
                    callback = TrackingCallback(
                        experiment_name="bench", eval_freq=-1, tracker=tracker
                    )
                    timer = _Timed(callback)
                started = time.process_time()
                model.learn(steps, callback=callback)
                took = time.process_time() - started
                rates[label].append(model.num_timesteps / took)
                if timer is not None:
                    shares.append(timer.seconds / took)
    return rates, shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    args = parser.parse_args()
    n = 200 if args.quick else 2000
    steps, repeats = (2048, 1) if args.quick else (16384, 3)

    print(f"## log_metric through the facade ({n} calls, microseconds per call)\n")
    print("| Backend | sync facade, us | async facade, us |")
    print("|---|---:|---:|")
    for name, sync_us, async_us in log_metric_costs(n):
        print(f"| {name} | {sync_us} | {async_us} |")

    measured = sb3_rates(steps, repeats)
    print(
        f"\n## SB3 PPO on CartPole-v1 ({steps} steps x {repeats}, steps per CPU second, median)\n"
    )
    if measured is None:
        print("stable-baselines3 is not installed (pip install 'labtrack[sb3]')")
        return 0
    rates, shares = measured
    base = statistics.median(rates["no callback"])
    print("| Setup | steps/s | time vs no callback |")
    print("|---|---:|---:|")
    for label, values in rates.items():
        rate = statistics.median(values)
        print(f"| {label} | {rate:,.0f} | {base / rate - 1:+.1%} |")
    share = statistics.median(shares)
    verdict = "within" if share <= 0.05 else "OVER"
    print(
        "\nTime inside TrackingCallback (its hooks and its logger output, evaluation off): "
        f"{share:.2%} of training CPU time ({verdict} the 5% budget)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
