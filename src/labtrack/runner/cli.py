"""Command-line options of an experiment script (``python main.py --executor fork -j 4``).

Only options given on the command line are returned, so that CLI > ``run()`` > decorator.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Run the experiment's configs (cached) and report."
    )
    p.add_argument("--name", help="experiment name (output folder under the output directory)")
    p.add_argument(
        "--executor",
        help="subprocess (default), fork, inline, ray, ray://host:port, ray:auto",
    )
    p.add_argument("--output-dir", dest="output_dir", help="output directory (default: out)")
    p.add_argument(
        "--no-timestamp",
        dest="timestamp",
        action="store_const",
        const=False,
        help="no timestamp folder: <output-dir>/<name>/<config>-<hash>/",
    )
    p.add_argument(
        "--timestamp",
        dest="timestamp",
        help="use this timestamp folder (e.g. 2024-01-25_14-30-00): continue, rerun or report",
    )
    p.add_argument(
        "--report",
        dest="report_only",
        action="store_true",
        default=None,
        help="only report from cached results (latest timestamp unless --timestamp)",
    )
    p.add_argument(
        "--rerun", action="store_true", default=None, help="run every config, cached or not"
    )
    p.add_argument(
        "-s",
        dest="capture",
        action="store_const",
        const=False,
        help="no capture: stream each config's output live (same as --capture=no)",
    )
    p.add_argument(
        "--capture",
        dest="capture",
        choices=["no", "yes"],
        help="--capture=no streams output live instead of a progress bar",
    )
    p.add_argument(
        "-j",
        "--max-workers",
        dest="max_workers",
        type=int,
        help="configs run at once (default: the number of cores)",
    )
    return p


def parse(argv: Sequence[str], prog: str | None = None) -> dict[str, Any]:
    """The options given in ``argv`` (those not given are absent from the result)."""
    ns = parser(prog).parse_args(list(argv))
    options = {k: v for k, v in vars(ns).items() if v is not None}
    if "capture" in options and isinstance(options["capture"], str):
        options["capture"] = options["capture"] == "yes"
    if "max_workers" in options and options["max_workers"] < 1:
        parser(prog).error("-j must be at least 1")
    return options
