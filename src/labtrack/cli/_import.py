"""``labtrack import tensorboard|mlflow|wandb LOCATION``: bring other tools' runs into a store.

Argument parsing only; the work is :mod:`labtrack.importers` (imported when the command runs, so
``labtrack --help`` stays light). Exit status: 0 when every run imported, 1 when some run failed
(each named with its reason), 2 when the source cannot be read at all.
"""

from __future__ import annotations

import argparse

_EXAMPLES = """examples:
  labtrack import tensorboard runs/ --into out --experiment old-cnn
  labtrack import mlflow sqlite:///mlflow.db --into out
  labtrack import mlflow http://tracking:5000 --experiment vision
  labtrack import wandb wandb/ --into out
importing again adds only what is new (see docs/import.md)"""


def add_import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``labtrack import ...`` on the top-level sub-command table."""
    parser = sub.add_parser(
        "import",
        help="import runs from TensorBoard event files, MLflow or W&B offline runs",
        description="Import runs at full resolution; importing again adds only what is new.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    tb = sources.add_parser("tensorboard", help="every folder of event files under LOGDIR")
    tb.add_argument("logdir", metavar="LOGDIR")
    tb.add_argument("--experiment", "-e", help="labtrack experiment (default: LOGDIR's name)")
    ml = sources.add_parser("mlflow", help="every run of an MLflow tracking URI")
    ml.add_argument("uri", metavar="URI", help="sqlite:///mlflow.db, a file store, or http://...")
    ml.add_argument("--experiment", "-e", help="only this MLflow experiment (name or id)")
    wb = sources.add_parser("wandb", help="every W&B offline run (offline-run-*) under DIR")
    wb.add_argument("dir", metavar="DIR", help="a wandb/ folder, or one run's folder")
    wb.add_argument("--experiment", "-e", help="labtrack experiment (default: the W&B project)")
    for source in (tb, ml, wb):
        source.add_argument(
            "--into", "-d", help="store directory (default: $LABTRACK_DIR or ./out)"
        )
        source.add_argument(
            "--no-progress", action="store_true", help="no progress bar, even on a terminal"
        )


def cmd_import(args: argparse.Namespace) -> int:
    from .. import importers

    show = False if args.no_progress else None
    run = {"tensorboard": importers.tensorboard, "mlflow": importers.mlflow}
    run["wandb"] = importers.wandb
    where = {"tensorboard": "logdir", "mlflow": "uri", "wandb": "dir"}[args.source]
    report = run[args.source](
        getattr(args, where), args.into, experiment=args.experiment, progress_bar=show
    )
    print(report)
    return 1 if report.failed else 0
