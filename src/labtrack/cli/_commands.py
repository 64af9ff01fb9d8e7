"""``ls``, ``show`` and ``export``.

User strings (names, config values, error messages, tracebacks) are printed as text, never as
rich markup: ``[bold]`` in a run's name shows as typed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..store import RunError, RunView, Store

_OPERATORS: list[tuple[str, Callable[[Any, Any], bool]]] = [
    ("!=", operator.ne),
    ("<=", operator.le),
    (">=", operator.ge),
    ("==", operator.eq),
    ("<", operator.lt),
    (">", operator.gt),
    ("=", operator.eq),
]


def parse_where(expressions: list[str]) -> dict[str, Any]:
    """``["config.lr=0.01", "summary.loss<0.5"]`` -> a ``where`` mapping for ``Store.runs``.

    Values are read as YAML scalars, so ``0.01`` is a float, ``true`` a bool, ``adam`` a str.
    """
    where: dict[str, Any] = {}
    for text in expressions:
        key, op, raw = _split_condition(text)
        value = yaml.safe_load(raw) if raw else ""
        where[key] = value if op is operator.eq else _predicate(op, value)
    return where


def _split_condition(text: str) -> tuple[str, Callable[[Any, Any], bool], str]:
    for symbol, op in _OPERATORS:
        key, found, raw = text.partition(symbol)
        if found and key.strip():
            return key.strip(), op, raw.strip()
    raise ValueError(f"--where {text!r}: expected KEY=VALUE (or !=, <, <=, >, >=)")


def _predicate(op: Callable[[Any, Any], bool], value: Any) -> Callable[[Any], bool]:
    return lambda actual: bool(op(actual, value))


def _time(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h{minutes:02d}m"
        if hours
        else f"{minutes}m{sec:02d}s"
        if minutes
        else f"{seconds:.1f}s"
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


_STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "failed": "red",
    "crashed": "magenta",
    "killed": "yellow",
    "unreadable": "red",
}


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..store._store import lookup

    store = Store(args.dir, catalog=not args.no_catalog)
    views = store.runs(
        experiment=args.experiment, status=args.status, where=parse_where(args.where)
    )
    extra = [c.strip() for c in args.columns.split(",") if c.strip()]
    errors = {view.id: _short_error(view) for view in views if not view.unreadable}
    error_column = ["error"] if any(errors.values()) else []
    table = Table(title=f"{len(views)} run(s) in {escape(str(store.dir))}", title_justify="left")
    for column in ("id", "experiment", "name", "status", "started", "duration", *extra):
        table.add_column(column, overflow="fold")
    for column in error_column:
        table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=_ERROR_WIDTH)
    table.add_column("summary", overflow="fold")
    for view in views:
        status = view.status
        styled = f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"
        if view.unreadable:
            dashes = ["-"] * (len(extra) + len(error_column))
            table.add_row(
                view.id,
                "-",
                escape(str(view.dir)),
                styled,
                "-",
                "-",
                *dashes,
                escape(view.unreadable),
            )
            continue
        summary = ", ".join(f"{k}={_fmt(v)}" for k, v in list(view.summary.items())[:4])
        cells = [
            _fmt(lookup(view._meta, c)) if lookup(view._meta, c) is not None else "-" for c in extra
        ]
        error_cells = [errors[view.id] or "-" for _ in error_column]
        table.add_row(
            view.id,
            escape(view.experiment),
            escape(view.name),
            styled,
            _time(view.start_time),
            _duration(view.duration),
            *map(escape, cells),
            *(f"[red]{escape(e)}[/]" if e != "-" else e for e in error_cells),
            escape(summary),
        )
    Console(soft_wrap=False, width=max(120, Console().width)).print(table)
    return 0


_ERROR_WIDTH = 60  # characters of the one-line error ``ls`` shows; ``show`` prints it all


def _shown_error(view: RunView) -> RunError | None:
    """Why a failed or killed run ended, None otherwise (a completed run has no error)."""
    return view.error if view.status in ("failed", "killed") else None


def _short_error(view: RunView) -> str | None:
    """``ValueError: bad lr``: the first line of the run's error, cut to ``_ERROR_WIDTH``."""
    error = _shown_error(view)
    if error is None:
        return None
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else error.type
    return line if len(line) <= _ERROR_WIDTH else line[: _ERROR_WIDTH - 1] + "…"


def _find(ref: str, store_dir: str | None) -> RunView:
    return Store(store_dir).run(ref)


def _find_many(ref: str, store_dir: str | None) -> list[RunView]:
    """A run id / prefix / directory, or a folder: every readable run below it."""
    path = Path(ref)
    if path.is_dir() and not (path / ".labtrack").is_dir():
        views = [v for v in Store(path).runs() if not v.unreadable]
        if not views:
            raise ValueError(f"no readable runs below {path}")
        return views
    return [_find(ref, store_dir)]


def cmd_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    view = _find(args.run, args.dir)
    console = Console()
    if view.unreadable:
        console.print(f"[red]unreadable[/] {escape(str(view.dir))}: {escape(view.unreadable)}")
        return 1
    console.print(
        f"[bold]{escape(view.experiment)}/{escape(view.name)}[/]  id={view.id}  "
        f"status={view.status}"
    )
    console.print(f"dir:      {escape(str(view.dir))}")
    console.print(f"started:  {_time(view.start_time)}   duration: {_duration(view.duration)}")
    console.print(f"host/pid: {escape(str(view.host))} / {view.pid}")
    if view.git:
        console.print(
            f"git:      {view.git.get('commit', '')[:12]} ({escape(str(view.git.get('branch')))})"
            + ("  dirty" if view.git.get("dirty") else "")
        )
    error = _shown_error(view)
    if error is not None:
        label = "error" if view.status == "failed" else "reason"
        console.print(f"[red]{label}[/]:    {escape(str(error))}", highlight=False, soft_wrap=True)
        if error.traceback:
            # verbatim: a traceback is text (brackets are not markup) and keeps its own lines
            console.print(error.traceback.rstrip(), markup=False, highlight=False, soft_wrap=True)
    for title, doc in (
        ("config", view.config),
        ("params", view.params),
        ("tags", view.tags),
        ("summary", view.summary),
    ):
        if doc:
            console.print(f"[bold]{title}[/]")
            console.print(json.dumps(doc, indent=2, default=str, allow_nan=True), markup=False)
    metrics = view.metrics
    if metrics:
        console.print("[bold]scalars[/]  (count, last, min, max)")
        for tag, m in metrics.items():
            console.print(
                f"  {escape(tag)}: {m['count']} points, last={_fmt(m['last'])}, "
                f"min={_fmt(m['min'])}, max={_fmt(m['max'])}"
            )
    for label, tags in (
        ("text", view.text_tags),
        ("figures", view.figure_tags),
        ("images", view.image_tags),
    ):
        if tags:
            console.print(f"[bold]{label}[/]: {escape(', '.join(tags))}")
    artifacts = view.artifacts()
    if artifacts:
        console.print("[bold]artifacts[/]")
        for art in artifacts:
            console.print(f"  {escape(art.name)} ({escape(art.kind)}, {art.size} bytes)")
    for problem in view.problems:
        console.print(f"[yellow]warning[/]: {escape(problem)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..errors import require

    require("pandas", "data", "labtrack export")
    frames = []
    views = [view for ref in args.runs for view in _find_many(ref, args.dir)]
    for view in views:
        frame = view.to_pandas([t for t in args.tag if t in view.scalar_tags] if args.tag else None)
        frame.insert(0, "name", view.name)
        frame.insert(0, "experiment", view.experiment)
        frame.insert(0, "run_id", view.id)
        frames.append((view, frame))
    outputs: list[tuple[Path, Any]] = []
    if args.output:
        outputs.append((Path(args.output), pd.concat([f for _, f in frames], ignore_index=True)))
    else:
        outputs.extend((Path(f"{view.id}.{args.format}"), frame) for view, frame in frames)
    for path, frame in outputs:
        if args.format == "csv":
            frame.to_csv(path, index=False)
        else:
            require("pyarrow", "data", "labtrack export --format parquet")
            frame.to_parquet(path, index=False)
        print(f"wrote {len(frame)} rows to {path}")
    return 0
