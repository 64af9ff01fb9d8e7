"""The command line: ``python -m examples.distributed_rl --help`` (also ``labtrack demo rl``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .config import RunContext, default_run_name

DESCRIPTION = """\
Train PPO on CartPole-v1 with Ray episode workers and a central trainer, recorded by labtrack's
tracker into a labtrack store (watch it live: labtrack ui DATA_DIR).

Run again with the same --run-name to resume from its latest checkpoint. Stop cleanly (final
checkpoint) with Ctrl-C, SIGTERM, or by creating a file named STOP in the run directory.
"""

EPILOG = """\
examples:
  python -m examples.distributed_rl                          # until mean score >= 195 (max 10 min)
  python -m examples.distributed_rl --run-name a --minutes 1 # one minute; run again to resume
  python -m examples.distributed_rl --max-steps 300 --workers 2 --seed 1
  python -m examples.distributed_rl --video-every 100        # more episode videos
  labtrack ui .labtrack_data                                 # the runs, live
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run-name", default=None, help="run name; an existing one resumes")
    p.add_argument(
        "--data-dir", default=".labtrack_data", help="labtrack store (default %(default)s)"
    )
    p.add_argument("--workers", type=int, default=None, help="episode workers (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    short = p.add_argument_group("length (the first limit reached stops the run)")
    short.add_argument("--minutes", type=float, default=None, help="wall-time limit (default 10)")
    short.add_argument("--max-steps", type=int, default=None, help="stop at this global step")
    short.add_argument(
        "--target-score",
        type=float,
        default=None,
        help="stop when the mean score reaches it (default 195; 0 = never)",
    )
    p.add_argument("--rollout-steps", type=int, default=None, help="transitions per PPO update")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument(
        "--processing-interval",
        type=float,
        default=None,
        help="seconds between the tracker's aggregations (default 1)",
    )
    p.add_argument("--no-step-events", action="store_true", help="no per-env-step events")
    p.add_argument(
        "--video-every",
        type=int,
        default=None,
        metavar="N",
        help="worker 0 records every N-th of its episodes as a video (default 1000; 0: none)",
    )
    p.add_argument("--no-tracking", action="store_true", help="no tracker at all (benchmarks)")
    p.add_argument("--mlflow", action="store_true", help="mirror to MLflow (labtrack[mlflow])")
    return p


def context_from_args(args: argparse.Namespace) -> RunContext:
    overrides: dict[str, Any] = {}
    worker_overrides: dict[str, Any] = {}
    if args.workers is not None:
        overrides["NUM_WORKERS"] = args.workers
    if args.minutes is not None:
        overrides["MAX_MINUTES"] = args.minutes
    if args.max_steps is not None:
        overrides["MAX_TRAINING_STEPS"] = args.max_steps
        if args.minutes is None:
            overrides["MAX_MINUTES"] = None
    if args.target_score is not None:
        overrides["TARGET_MEAN_SCORE"] = args.target_score or None
    if args.rollout_steps is not None:
        overrides["ROLLOUT_STEPS"] = args.rollout_steps
    if args.checkpoint_every is not None:
        overrides["CHECKPOINT_SAVE_FREQ_STEPS"] = args.checkpoint_every
        overrides["BUFFER_SAVE_FREQ_STEPS"] = args.checkpoint_every
    if args.processing_interval is not None:
        overrides["PROCESSING_INTERVAL_SECONDS"] = args.processing_interval
    if args.no_step_events:
        worker_overrides["LOG_STEP_EVENTS"] = False
    if args.video_every is not None:
        worker_overrides["VIDEO_EVERY_EPISODES"] = args.video_every
    if args.no_tracking:
        overrides["TRACKING"] = False
    if args.mlflow:
        overrides["MLFLOW"] = True
    return RunContext(
        run_name=args.run_name or default_run_name(),
        data_dir=args.data_dir,
        seed=args.seed,
        overrides=overrides,
        worker_overrides=worker_overrides,
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    from .runners import run_training

    args = build_parser(prog).parse_args(argv)
    return run_training(context_from_args(args))
