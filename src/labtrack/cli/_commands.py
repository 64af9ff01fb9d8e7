"""``show`` and ``export`` (``ls`` is ``_ls``).

User strings (names, config values, error messages, tracebacks) are printed as text, never as
rich markup: ``[bold]`` in a run's name shows as typed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..store import RunError, RunView, Store


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


def _shown_error(view: RunView) -> RunError | None:
    """Why a failed or killed run ended, None otherwise (a completed run has no error)."""
    return view.error if view.status in ("failed", "killed") else None


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
