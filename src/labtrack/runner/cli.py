"""Command-line options of an experiment script (``python main.py --executor fork -j 4``).

Only options given on the command line are returned, so that CLI > ``run()`` > decorator.
Both the seed's spellings and pyexp's are accepted: ``--timestamp TS`` and ``--continue [TS]``
(no value: the latest timestamp), ``--report`` and ``--report TS``, plus pyexp's ``--list``,
``--filter REGEX``, ``--retry N``, ``--no-stash``, ``--viewer`` and ``--viewer-port``.

``strict=False`` (an experiment imported into another program, pytest for one) ignores
arguments that are not ours, since they belong to that program; abbreviations are then off,
so that no foreign flag is taken for a prefix of one of ours.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

#: ``--continue`` / ``--report`` given without a timestamp: the latest one.
LATEST = "latest"


def parser(prog: str | None = None, *, strict: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Run the experiment's configs (cached) and report.",
        allow_abbrev=strict,
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
        "--continue",
        dest="continue_",
        nargs="?",
        const=LATEST,
        metavar="TIMESTAMP",
        help="continue a run: this timestamp folder, or the latest one when none is given",
    )
    p.add_argument(
        "--report",
        dest="report",
        nargs="?",
        const=LATEST,
        metavar="TIMESTAMP",
        help="only report from cached results (of TIMESTAMP, else --timestamp, else the latest)",
    )
    p.add_argument(
        "--rerun", action="store_true", default=None, help="run every config, cached or not"
    )
    p.add_argument(
        "--list",
        dest="list_only",
        action="store_true",
        default=None,
        help="list the configs (name, and whether a cached result exists) and run nothing",
    )
    p.add_argument(
        "--filter",
        dest="filter",
        metavar="REGEX",
        help="only the configs whose name matches REGEX (re.search)",
    )
    p.add_argument(
        "--retry",
        type=int,
        metavar="N",
        help="run a failed config up to N more times (default 0)",
    )
    p.add_argument(
        "--no-stash",
        dest="stash",
        action="store_const",
        const=False,
        help="do not snapshot the git checkout (see labtrack.stash)",
    )
    p.add_argument(
        "--viewer",
        action="store_true",
        default=None,
        help="after the report, serve the viewer over this sweep until Ctrl-C",
    )
    p.add_argument(
        "--viewer-port", dest="viewer_port", type=int, help="port of --viewer (default 8765)"
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


def parse(argv: Sequence[str], prog: str | None = None, *, strict: bool = True) -> dict[str, Any]:
    """The options given in ``argv`` (those not given are absent from the result).

    ``--continue TS`` and ``--report TS`` come back as ``timestamp=TS`` (``--continue``
    alone as ``continue_latest=True``); ``--report`` as ``report_only=True``.
    """
    p = parser(prog, strict=strict)
    ns = p.parse_args(list(argv)) if strict else p.parse_known_args(list(argv))[0]
    options = {k: v for k, v in vars(ns).items() if v is not None}
    if "capture" in options and isinstance(options["capture"], str):
        options["capture"] = options["capture"] == "yes"
    if "max_workers" in options and options["max_workers"] < 1:
        p.error("-j must be at least 1")
    if "retry" in options and options["retry"] < 0:
        p.error("--retry must be at least 0")
    for key in ("continue_", "report"):
        value = options.pop(key, None)
        if value is None:
            continue
        if key == "report":
            options["report_only"] = True
        if value == LATEST:
            options.setdefault("continue_latest", True)
        else:
            options["timestamp"] = value
    if options.get("report_only") and "timestamp" in options:
        options.pop("continue_latest", None)
    return options
