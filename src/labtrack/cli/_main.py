"""Argument parsing and dispatch for ``labtrack``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import LabtrackError
from ._import import add_import_parser

_EXAMPLES = {
    "ls": """examples:
  labtrack ls                                   # every run in ./out (or $LABTRACK_DIR)
  labtrack ls out --experiment mnist --status failed
  labtrack ls out --where "config.lr<0.05" --where config.model.act=relu -c config.lr,summary.acc
  labtrack ls out --format json | jq '.[].id'""",
    "show": """examples:
  labtrack show 1a2b3c                          # a run id or a unique prefix of one
  labtrack show out/mnist/baseline-1a2b3c4d5e6f # or its directory""",
    "export": """examples:
  labtrack export out/mnist -o mnist.csv        # every run below a folder, one CSV
  labtrack export 1a2b3c --format parquet --tag train/loss""",
    "demo": """examples:
  labtrack demo                                 # three short runs into ./out, then a summary
  labtrack demo --dir /tmp/demo --runs 5 --steps 1000
  labtrack demo rl --help                       # the distributed RL example (from a checkout)""",
}


def _sub(sub: Any, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=_EXAMPLES.get(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labtrack",
        description="Run, record and show machine-learning experiments.",
        epilog="Each command has its own --help with examples, e.g. labtrack ls --help.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ls = _sub(sub, "ls", "list runs in a store")
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
    ls.add_argument(
        "--columns",
        "-c",
        default="",
        help="comma-separated keys to show instead of the summary, e.g. config.lr,summary.acc",
    )
    ls.add_argument(
        "--format", "-f", choices=["table", "json", "csv"], default="table", help="output format"
    )
    ls.add_argument("--no-catalog", action="store_true", help="read metadata files directly")

    show = _sub(sub, "show", "show one run: metadata, config, summary, error, what it logged")
    show.add_argument("run", help="run id, id prefix, or run directory")
    show.add_argument("--dir", "-d", help="store directory to look the id up in")

    export = _sub(sub, "export", "export runs' scalars as CSV or Parquet, at full resolution")
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

    demo = _sub(sub, "demo", "record a few short training-like runs, then summarise")
    demo.add_argument("--dir", "-d", help="store directory (default: $LABTRACK_DIR or ./out)")
    demo.add_argument("--runs", type=int, default=3, help="how many runs (default 3)")
    demo.add_argument("--steps", type=int, default=300, help="steps per run (default 300)")

    # Parsed by the viewer itself (main() hands it everything after "ui", --help included).
    sub.add_parser("ui", help="the web viewer over a store (labtrack ui --help)", add_help=False)
    add_import_parser(sub)  # labtrack import tensorboard|mlflow|wandb ...
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labtrack`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ui"]:
        return _ui(argv[1:])
    if argv[:2] == ["demo", "rl"]:  # the distributed RL example has its own command line
        from ._demo_rl import main as demo_rl

        return demo_rl(argv[2:])
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
            from ._ls import cmd_ls

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
        if args.command == "import":
            from ._import import cmd_import

            return cmd_import(args)
    except (LabtrackError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"labtrack {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


def _ui(argv: list[str]) -> int:
    from ..errors import MissingExtraError, require

    try:
        viewer = require("labtrack.viewer", "viewer", "labtrack ui")
    except MissingExtraError as exc:
        print(f"labtrack ui: error: {exc}", file=sys.stderr)
        return 2
    return int(viewer.main(argv))  # type: ignore[attr-defined]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
