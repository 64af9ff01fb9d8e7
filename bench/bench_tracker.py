"""Tracker throughput: in-process log_event, and 8 Ray workers batching into one actor.

    PYTHONPATH=src python bench/bench_tracker.py [--workers 8] [--events 200000] [--naive 2000]

Prints medians (µs per event on the caller's side) and the batched-vs-naive ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from labtrack import MetricConfig, PersistenceConfig, RawMetricEvent, StatsConfig, TrackerConfig


def config(root: str, run: str) -> TrackerConfig:
    return TrackerConfig(
        app_name="bench",
        run_name=run,
        persistence=PersistenceConfig(ROOT_DATA_DIR=root),
        stats=StatsConfig(
            processing_interval_seconds=1.0,
            metrics=[
                MetricConfig(name="loss", log_frequency_steps=1000),
                MetricConfig(name="score", raw_event_name="episode_end", context_key="score"),
            ],
        ),
    )


def bench_in_process(root: str, n: int) -> None:
    from labtrack import Tracker

    with Tracker(config(root, "inproc"), sinks=[]) as tracker:
        events = [RawMetricEvent(name="loss", value=0.5, global_step=i) for i in range(n)]
        per_event = []
        for _ in range(5):
            t0 = time.perf_counter()
            for e in events:
                tracker.log_event(e)
            per_event.append((time.perf_counter() - t0) / n * 1e6)
        t0 = time.perf_counter()
        for i in range(n):
            tracker.log_event(RawMetricEvent(name="loss", value=0.5, global_step=i))
        built = (time.perf_counter() - t0) / n * 1e6
        tracker.force_process_and_log(n)
        received = tracker.get_counts()["received"]
    print(
        f"in-process Tracker.log_event: median {statistics.median(per_event):.2f} µs/event "
        f"(event built beforehand; {built:.2f} µs including RawMetricEvent(...)), "
        f"{received:,} events counted"
    )


def bench_ray(root: str, workers: int, n: int, naive_n: int) -> None:
    import ray

    import labtrack
    from labtrack.tracker import TrackerClient

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    actor = labtrack.TrackerActor.options(name="bench-tracker").remote(
        config=config(root, "ray"), sinks=[]
    )
    ray.get(actor.get_pid.remote())

    @ray.remote(num_cpus=0)
    class Worker:
        def batched(self, n: int) -> dict[str, float]:
            client = TrackerClient("bench-tracker", flush_interval_seconds=0.5)
            t0 = time.perf_counter()
            c0 = time.thread_time()
            for i in range(n):
                client.log_event("episode_end", 1.0, i, None)
            elapsed = time.perf_counter() - t0
            cpu = time.thread_time() - c0
            client.close()
            return {"wall_us": elapsed / n * 1e6, "cpu_us": cpu / n * 1e6}

        def naive(self, n: int, actor: Any) -> float:
            t0 = time.perf_counter()
            refs = [
                actor.log_event.remote(RawMetricEvent(name="loss", value=0.5, global_step=i))
                for i in range(n)
            ]
            elapsed = time.perf_counter() - t0
            ray.get(refs)
            return elapsed / n * 1e6

    pool = [Worker.remote() for _ in range(workers)]
    t0 = time.perf_counter()
    results = ray.get([w.batched.remote(n) for w in pool])
    total_s = time.perf_counter() - t0
    counts = ray.get(actor.get_counts.remote())
    wall = statistics.median(r["wall_us"] for r in results)
    cpu = statistics.median(r["cpu_us"] for r in results)
    print(
        f"batched client, {workers} workers x {n:,} events: median {wall:.2f} µs/event wall "
        f"({cpu:.2f} µs CPU) per worker; all {workers * n:,} events delivered in {total_s:.1f} s "
        f"({workers * n / total_s:,.0f} events/s); actor counted {counts['received']:,}, "
        f"pending {counts['pending']}"
    )
    before = counts["received"]
    naive = ray.get([w.naive.remote(naive_n, actor) for w in pool])
    naive_us = statistics.median(naive)
    counts = ray.get(actor.get_counts.remote())
    print(
        f"naive one .remote() per event, {workers} workers x {naive_n:,} events (fewer: it is "
        f"slow): median {naive_us:.1f} µs/event per worker; actor counted "
        f"{counts['received'] - before:,}"
    )
    print(f"ratio naive / batched (wall, per event): {naive_us / wall:.0f}x")
    ray.get(actor.shutdown.remote())
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive", type=int, default=2_000)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        bench_in_process(str(Path(root)), 200_000)
        if not args.skip_ray:
            bench_ray(str(Path(root)), args.workers, args.events, args.naive)


if __name__ == "__main__":
    main()
