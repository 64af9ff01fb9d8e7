"""``ls``, ``show`` and ``export``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..store import RunView, Store

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
    from rich.table import Table

    from ..store._store import lookup

    store = Store(args.dir, catalog=not args.no_catalog)
    views = store.runs(
        experiment=args.experiment, status=args.status, where=parse_where(args.where)
    )
    extra = [c.strip() for c in args.columns.split(",") if c.strip()]
    table = Table(title=f"{len(views)} run(s) in {store.dir}", title_justify="left")
    for column in ("id", "experiment", "name", "status", "started", "duration", *extra):
        table.add_column(column, overflow="fold")
    table.add_column("summary", overflow="fold")
    for view in views:
        status = view.status
        styled = f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"
        if view.error:
            table.add_row(
                view.id, "-", str(view.dir), styled, "-", "-", *["-"] * len(extra), view.error
            )
            continue
        summary = ", ".join(f"{k}={_fmt(v)}" for k, v in list(view.summary.items())[:4])
        cells = [
            _fmt(lookup(view._meta, c)) if lookup(view._meta, c) is not None else "-" for c in extra
        ]
        table.add_row(
            view.id,
            view.experiment,
            view.name,
            styled,
            _time(view.start_time),
            _duration(view.duration),
            *cells,
            summary,
        )
    Console(soft_wrap=False, width=max(120, Console().width)).print(table)
    return 0


def _find(ref: str, store_dir: str | None) -> RunView:
    return Store(store_dir).run(ref)


def _find_many(ref: str, store_dir: str | None) -> list[RunView]:
    """A run id / prefix / directory, or a folder: every readable run below it."""
    path = Path(ref)
    if path.is_dir() and not (path / ".labtrack").is_dir():
        views = [v for v in Store(path).runs() if not v.error]
        if not views:
            raise ValueError(f"no readable runs below {path}")
        return views
    return [_find(ref, store_dir)]


def cmd_show(args: argparse.Namespace) -> int:
    from rich.console import Console

    view = _find(args.run, args.dir)
    console = Console()
    if view.error:
        console.print(f"[red]unreadable[/] {view.dir}: {view.error}")
        return 1
    console.print(f"[bold]{view.experiment}/{view.name}[/]  id={view.id}  status={view.status}")
    console.print(f"dir:      {view.dir}")
    console.print(f"started:  {_time(view.start_time)}   duration: {_duration(view.duration)}")
    console.print(f"host/pid: {view.host} / {view.pid}")
    if view.git:
        console.print(
            f"git:      {view.git.get('commit', '')[:12]} ({view.git.get('branch')})"
            + ("  dirty" if view.git.get("dirty") else "")
        )
    for title, doc in (
        ("config", view.config),
        ("params", view.params),
        ("tags", view.tags),
        ("summary", view.summary),
    ):
        if doc:
            console.print(f"[bold]{title}[/]")
            console.print(json.dumps(doc, indent=2, default=str, allow_nan=True))
    metrics = view.metrics
    if metrics:
        console.print("[bold]scalars[/]  (count, last, min, max)")
        for tag, m in metrics.items():
            console.print(
                f"  {tag}: {m['count']} points, last={_fmt(m['last'])}, "
                f"min={_fmt(m['min'])}, max={_fmt(m['max'])}"
            )
    for label, tags in (
        ("text", view.text_tags),
        ("figures", view.figure_tags),
        ("images", view.image_tags),
    ):
        if tags:
            console.print(f"[bold]{label}[/]: {', '.join(tags)}")
    artifacts = view.artifacts()
    if artifacts:
        console.print("[bold]artifacts[/]")
        for art in artifacts:
            console.print(f"  {art.name} ({art.kind}, {art.size} bytes)")
    for problem in view.problems:
        console.print(f"[yellow]warning[/]: {problem}")
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
