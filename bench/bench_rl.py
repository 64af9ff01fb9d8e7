"""The flagship pipeline's learning curve and throughput, and what tracking costs it.

    PYTHONPATH=src python bench/bench_rl.py [--seconds 60] [--repeats 3] [--png docs/img/rl_curve.png]

1. Runs ``python -m examples.distributed_rl`` with its default config (2 workers, stop at a
   mean score of 195 over 100 episodes, at most 10 minutes) and reads the learning curve back
   from the labtrack run it recorded (``Episode/Mean_Score`` against ``Progress/Env_Steps`` and
   ``Progress/Elapsed_Seconds``, the time since the training loop started, the workers' start-up
   included); the milestones (time and environment steps at which the mean score first reached
   50, 100, 150 and 195) as the pipeline logs them, the environment steps per second, and how
   long the whole command took (Ray's start-up included).
2. Runs the pipeline for ``--seconds`` with tracking on (a tracker with no mirrors: events,
   checkpoints, the labtrack run) and off (``--no-tracking``: no tracker at all), alternately
   ``--repeats`` times, and compares their env steps/s (measured from when the workers are
   ready, as the pipeline prints it): each run against the tracking-off run of its round, and
   the median of those ratios. Beside it, the share of the machine's CPU the tracker actor used
   (its process's CPU seconds over the run's seconds times the cores), which does not move with
   the machine's load as throughput does. It includes the actor's one-time import of torch
   (about 1.3 s of CPU) to unpickle the first checkpoint: longer runs amortize it.
3. Writes the curve (mean score against time and env steps) as a PNG.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import fmt, table

REPO = Path(__file__).resolve().parents[1]
MILESTONES = (50, 100, 150, 195)  # as the pipeline logs them ("milestone: ...")
THROUGHPUT = re.compile(r"throughput: (\d+) env steps in ([\d.]+) s")
TRACKER_CPU = re.compile(
    r"tracking CPU: the tracker actor used ([\d.]+) s of CPU in those ([\d.]+) s"
)


def run_pipeline(data_dir: Path, run_name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    cmd = [sys.executable, "-m", "examples.distributed_rl", "--run-name", run_name]
    done = subprocess.run(
        [*cmd, "--data-dir", str(data_dir), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if done.returncode != 0:
        raise SystemExit(f"the pipeline failed:\n{done.stderr[-3000:]}")
    return done.stderr


def steps_per_second(log: str) -> float:
    found = THROUGHPUT.search(log)
    assert found, log[-2000:]
    return int(found[1]) / float(found[2])


def learning_curve(data_dir: Path) -> tuple[list[float], list[float], list[float]]:
    """(seconds, env steps, mean score) per logged point of the run."""
    import labtrack

    (view,) = labtrack.Store(data_dir).runs()
    series = {
        name: dict(zip(view.scalars(name).steps.tolist(), view.scalars(name).values.tolist()))
        for name in ("Progress/Elapsed_Seconds", "Progress/Env_Steps", "Episode/Mean_Score")
    }
    steps = sorted(set.intersection(*(set(s) for s in series.values())))
    return (
        [series["Progress/Elapsed_Seconds"][s] for s in steps],
        [series["Progress/Env_Steps"][s] for s in steps],
        [series["Episode/Mean_Score"][s] for s in steps],
    )


def plot(curve: tuple[list[float], list[float], list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds, env_steps, scores = curve
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, x, label in ((a, seconds, "wall time (s)"), (b, env_steps, "environment steps")):
        ax.plot(x, scores, color="tab:blue", lw=2)
        ax.axhline(195, color="tab:green", ls="--", lw=1)
        ax.axhline(22, color="tab:gray", ls=":", lw=1)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    a.set_ylabel("mean score (last 100 episodes)")
    for ax in (a, b):
        at = ax.get_yaxis_transform()  # x in axes fraction, y in data
        ax.text(0.02, 197, "solved (195)", color="tab:green", va="bottom", fontsize=8, transform=at)
        ax.text(
            0.02, 24, "random policy (~22)", color="tab:gray", va="bottom", fontsize=8, transform=at
        )
    fig.suptitle("PPO on CartPole-v1: 2 Ray workers + central trainer, 2 CPUs", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"curve written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="each throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per mode")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "img" / "rl_curve.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.monotonic()
        # the tracker aggregates 5 times a second here, for a smoother curve
        log = run_pipeline(root / "curve", "default", "--processing-interval", "0.2")
        process_seconds = time.monotonic() - started
        curve = learning_curve(root / "curve")
        seconds, env_steps, scores = curve
        rows = []
        for target in MILESTONES:
            found = re.search(
                rf"milestone: mean score {target:g} reached at ([\d.]+) s, (\d+)", log
            )
            if found is None:
                rows.append([f"{target:g}", "not reached", ""])
            else:
                rows.append([f"{target:g}", found[1], f"{int(found[2]):,}"])
        print("learning curve (default config; mean score over the last 100 episodes):")
        print(table(["mean score", "seconds", "env steps"], rows))
        print(
            f"final: mean score {scores[-1]:.1f} after {seconds[-1]:.1f} s, "
            f"{env_steps[-1]:,.0f} env steps; {steps_per_second(log):,.0f} env steps/s; "
            f"the whole command (Ray start to exit) took {process_seconds:.1f} s"
        )
        plot(curve, args.png)

        modes = {
            "off (no tracker)": ["--no-tracking"],
            "on (no mirrors)": [],
            "on, no per-step events": ["--no-step-events"],
        }
        rates: dict[str, list[float]] = {mode: [] for mode in modes}
        shares: dict[str, list[float]] = {mode: [] for mode in modes}
        cores = os.cpu_count() or 1
        minutes = f"{args.seconds / 60:.4f}"
        for i in range(args.repeats):  # interleaved, so that a change in load hits every mode
            for j, (mode, extra) in enumerate(modes.items()):
                out = run_pipeline(
                    root / f"{i}-{j}", "t", "--minutes", minutes, "--target-score", "0", *extra
                )
                rates[mode].append(steps_per_second(out))
                used = TRACKER_CPU.search(out)
                if used:
                    shares[mode].append(float(used[1]) / (float(used[2]) * cores))
        medians = {mode: statistics.median(r) for mode, r in rates.items()}
        off_runs = rates["off (no tracker)"]
        print(f"\nthroughput over {args.seconds:g} s runs ({args.repeats} each, median):")
        rows = []
        for mode, m in medians.items():
            # each run against the tracking-off run of the same round: load drifts less within one
            paired = statistics.median(
                r / off for r, off in zip(rates[mode], off_runs, strict=True)
            )
            share = f"{100 * statistics.median(shares[mode]):.2f}%" if shares[mode] else "-"
            rows.append(
                [mode, fmt(m), f"{paired:.3f}", share, ", ".join(fmt(r) for r in rates[mode])]
            )
        print(
            table(
                [
                    "tracking",
                    "env steps/s",
                    "vs off (paired)",
                    f"tracker actor CPU of {cores} cores",
                    "runs",
                ],
                rows,
            )
        )


if __name__ == "__main__":
    main()
