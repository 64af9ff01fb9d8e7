"""``labtrack ls``: the runs of a store as a table that fits the terminal, or as JSON / CSV.

Filters are checked against the store before they are applied, because a filter that can never
match looks exactly like an empty store: an unknown status or an unparsable ``--where`` is an
error, and a key that no listed run has is a warning naming the closest keys that exist.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import math
import operator
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from ..store import STATUSES, RunView, Store

#: What ``--status`` accepts: the recorded statuses and the two a reader infers.
LISTED_STATUSES = (*STATUSES, "crashed", "unreadable")
#: The parts of a run a dotted ``--where`` / ``-c`` key may start with.
ROOTS = ("config", "params", "summary", "tags", "metrics")
FIELDS = ("id", "name", "experiment", "status", "host", "pid", "start_time", "end_time")

_OPERATORS: list[tuple[str, Callable[[Any, Any], bool]]] = [
    ("!=", operator.ne),
    ("<=", operator.le),
    (">=", operator.ge),
    ("==", operator.eq),
    ("<", operator.lt),
    (">", operator.gt),
    ("=", operator.eq),
]


def parse_where(expressions: Iterable[str]) -> dict[str, Any]:
    """``["config.lr=0.01", "summary.loss<0.5"]`` -> a ``where`` mapping for ``Store.runs``.

    Values are read as YAML scalars, so ``0.01`` is a float, ``true`` a bool, ``adam`` a str.
    ValueError names the expression that cannot be read.
    """
    where: dict[str, Any] = {}
    for text in expressions:
        key, symbol, op, raw = _split_condition(text)
        if raw[:1] in ("=", "<", ">", "!"):
            raise ValueError(f"--where {text!r}: cannot read {symbol}{raw}; one operator per key")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            raise ValueError(f"--where {text!r}: cannot read the value {raw!r}") from None
        if isinstance(value, list | dict):
            raise ValueError(f"--where {text!r}: the value must be a number, string or bool")
        if op is not operator.eq and op is not operator.ne and not isinstance(value, int | float):
            raise ValueError(f"--where {text!r}: {symbol} compares numbers, got {raw!r}")
        where[key] = value if op is operator.eq else _predicate(op, value)
    return where


def _split_condition(text: str) -> tuple[str, str, Callable[[Any, Any], bool], str]:
    for symbol, op in _OPERATORS:
        key, found, raw = text.partition(symbol)
        if found and key.strip():
            return key.strip(), symbol, op, raw.strip()
    raise ValueError(f"--where {text!r}: expected KEY=VALUE (or !=, <, <=, >, >=)")


def _predicate(op: Callable[[Any, Any], bool], value: Any) -> Callable[[Any], bool]:
    return lambda actual: bool(op(actual, value))


def check_statuses(statuses: list[str] | None) -> None:
    for status in statuses or ():
        if status not in LISTED_STATUSES:
            close = difflib.get_close_matches(status, LISTED_STATUSES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"--status {status!r} is not a status{hint}; statuses: {', '.join(LISTED_STATUSES)}"
            )


def known_keys(views: Iterable[RunView]) -> set[str]:
    """Every dotted key some readable run has (nested config keys at every depth)."""
    keys: set[str] = set(FIELDS)
    for view in views:
        if view.unreadable:
            continue
        for root in ROOTS:
            doc = view.summary if root == "summary" else view.get(root)
            if isinstance(doc, Mapping):
                _collect(doc, root, keys)
    return keys


def _collect(doc: Mapping[str, Any], prefix: str, into: set[str]) -> None:
    for key, value in doc.items():
        path = f"{prefix}.{key}"
        into.add(path)
        if isinstance(value, Mapping):
            _collect(value, path, into)


def check_keys(keys: Iterable[str], existing: set[str], what: str) -> None:
    """ValueError for a key that cannot name a run field; a warning for one no run has."""
    for key in keys:
        root = key.partition(".")[0]
        if root not in ROOTS and key not in FIELDS:
            guesses = sorted(k for k in existing if k.endswith("." + key))
            hint = f"; did you mean {' or '.join(guesses[:3])}?" if guesses else ""
            raise ValueError(
                f"{what} {key!r}: keys start with {', '.join(ROOTS)} "
                f"(or are one of {', '.join(FIELDS)}){hint}"
            )
        if key not in existing and existing - set(FIELDS):
            close = difflib.get_close_matches(key, sorted(existing), n=3, cutoff=0.6)
            hint = f"; closest: {', '.join(close)}" if close else ""
            print(f"labtrack ls: warning: no listed run has {key!r}{hint}", file=sys.stderr)


def cmd_ls(args: argparse.Namespace) -> int:
    check_statuses(args.status)
    where = parse_where(args.where)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    store = Store(args.dir, catalog=not args.no_catalog)
    if where or columns:
        existing = known_keys(store.runs(experiment=args.experiment, status=args.status))
        check_keys(where, existing, "--where")
        check_keys(columns, existing, "-c")
    views = store.runs(experiment=args.experiment, status=args.status, where=where)
    rows = [_row(view, columns) for view in views]
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=1, default=str, allow_nan=True)
        print()
    elif args.format == "csv":
        _print_csv(rows)
    else:
        _print_table(rows, columns, f"{len(views)} run(s) in {store.dir}")
    return 0


def _row(view: RunView, columns: list[str]) -> dict[str, Any]:
    """One run as plain values: the fixed fields, the chosen columns (or the summary), the error."""
    if view.unreadable:
        return {"id": view.id, "dir": str(view.dir), "status": "unreadable",
                "error": view.unreadable}  # fmt: skip
    row: dict[str, Any] = {
        "id": view.id,
        "experiment": view.experiment,
        "name": view.name,
        "status": view.status,
        "started": view.start_time,
        "duration": view.duration,
    }
    for column in columns:
        row[column] = view.get(column)
    if not columns:
        row["summary"] = dict(list(view.summary.items())[:4])
    error = view.error if view.status in ("failed", "killed") else None
    row["error"] = str(error).strip().splitlines()[0] if error is not None else None
    return row


def _print_csv(rows: list[dict[str, Any]]) -> None:
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    writer = csv.DictWriter(sys.stdout, fieldnames=names)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _plain(v) for k, v in row.items()})


_STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "failed": "red",
    "crashed": "magenta",
    "killed": "yellow",
    "unreadable": "red",
}


def _print_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    shown = ["id", "experiment", "name", "status", "started", "duration", *columns]
    if not columns:
        shown.append("summary")
    if any(row.get("error") for row in rows):
        shown.append("error")
    console = Console(soft_wrap=False)
    table = Table(title=Text(title), title_justify="left")
    cells_by_row = [[_cell(row, name) for name in shown] for row in rows]
    natural = [
        max([len(name), *(len(cells[i].plain) for cells in cells_by_row)])
        for i, name in enumerate(shown)
    ]
    fixed = [min(n, 30) for n, name in zip(natural, shown, strict=True) if name not in _FLEXIBLE]
    # What is left once ids, statuses, times and chosen columns are shown whole goes to the
    # flexible columns, in proportion to what they hold; they are cut with "…", never wrapped.
    room = console.width - sum(fixed) - 3 * len(shown) - 1  # less borders and padding
    allotted: dict[str, int] = {}
    flexible = sorted((natural[i], n) for i, n in enumerate(shown) if n in _FLEXIBLE)
    for left, (want, name) in zip(range(len(flexible), 0, -1), flexible, strict=True):
        allotted[name] = max(8, min(want, room // left))  # the smallest are served first
        room -= allotted[name]
    for i, name in enumerate(shown):
        width = allotted[name] if name in _FLEXIBLE else min(natural[i], 30)
        # rich's width includes the cell's padding
        table.add_column(name, overflow="ellipsis", no_wrap=True, width=width + 2)
    for cells in cells_by_row:
        table.add_row(*cells)
    console.print(table)


_FLEXIBLE = ("name", "summary", "error", "experiment")


def _cell(row: dict[str, Any], name: str) -> Any:
    from rich.text import Text

    from ._commands import _duration, _time

    value = row.get(name)
    if name == "started":
        text = _time(value)
    elif name == "duration":
        text = _duration(value)
    elif name == "summary" and isinstance(value, dict):
        text = ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    elif name == "name" and row["status"] == "unreadable":
        text = str(row.get("dir", ""))
    else:
        text = _plain(value)
    style = _STATUS_STYLE.get(text, "") if name == "status" else "red" if name == "error" else ""
    return Text(text, style=style)  # Text: user strings are never markup


def _plain(value: Any) -> str:
    """A cell: empty for a missing value, short floats, JSON for nested values."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, allow_nan=True)
    return str(value)
