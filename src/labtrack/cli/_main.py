"""Argument parsing and dispatch for ``labtrack``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import LabtrackError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labtrack", description="Run, record and show machine-learning experiments."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ls = sub.add_parser("ls", help="list runs in a store")
    ls.add_argument("dir", nargs="?", help="store directory (default: $LABTRACK_DIR or ./out)")
    ls.add_argument("--experiment", "-e", help="only this experiment")
    ls.add_argument(
        "--status", "-s", action="append", help="only runs with this status (repeatable)"
    )
    ls.add_argument(
        "--where",
        "-w",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="filter on a dotted key, e.g. config.lr=0.01 or summary.loss<0.5 "
        "(operators: = != < <= > >=; repeatable)",
    )
    ls.add_argument("--columns", "-c", default="", help="extra comma-separated keys to show")
    ls.add_argument("--no-catalog", action="store_true", help="read metadata files directly")

    show = sub.add_parser("show", help="show one run: metadata, config, summary, tags logged")
    show.add_argument("run", help="run id, id prefix, or run directory")
    show.add_argument("--dir", "-d", help="store directory to look the id up in")

    export = sub.add_parser("export", help="export runs' scalars as CSV or Parquet")
    export.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run ids, id prefixes, run directories, or folders (every run below them)",
    )
    export.add_argument("--dir", "-d", help="store directory to look ids up in")
    export.add_argument("--format", "-f", choices=["csv", "parquet"], default="csv")
    export.add_argument("--output", "-o", help="output file (default: <run id>.<format> each)")
    export.add_argument("--tag", "-t", action="append", help="only these tags (repeatable)")

    demo = sub.add_parser("demo", help="record a few short training-like runs, then summarise")
    demo.add_argument("--dir", "-d", help="store directory (default: $LABTRACK_DIR or ./out)")
    demo.add_argument("--runs", type=int, default=3, help="how many runs (default 3)")
    demo.add_argument("--steps", type=int, default=300, help="steps per run (default 300)")

    ui = sub.add_parser("ui", help="open the web viewer over a store", add_help=False)
    ui.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labtrack`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.version:
        from .. import __version__

        print(f"labtrack {__version__}")
        return 0
    if args.command is None:
        _parser().print_help()
        return 0
    try:
        if args.command == "ls":
            from ._commands import cmd_ls

            return cmd_ls(args)
        if args.command == "show":
            from ._commands import cmd_show

            return cmd_show(args)
        if args.command == "export":
            from ._commands import cmd_export

            return cmd_export(args)
        if args.command == "demo":
            from ._demo import cmd_demo

            return cmd_demo(args)
        if args.command == "ui":
            from ..errors import require

            viewer = require("labtrack.viewer", "viewer", "labtrack ui")
            return int(viewer.main(list(args.args)))  # type: ignore[attr-defined]
    except (LabtrackError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"labtrack {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
