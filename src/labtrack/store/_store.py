"""Store: every run under a directory, found recursively, with queries across them.

A store is any folder: runs are found by their ``.labtrack/`` marker wherever they sit, so a
folder of runs copied from a cluster, one runner sweep, or a single run can all be opened.

The catalog (``.labtrack-catalog.sqlite`` at the root) is a cache of run metadata keyed by the
metadata file's modification time and size. Deleting it loses nothing: it is rebuilt on the next
query. It exists so that filtering thousands of runs does not read thousands of JSON files, and
``where`` equality tests run inside SQLite. If SQLite cannot be used there (a read-only folder, a
file system without working locks), queries read the metadata files instead.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, UnreadableRunError
from ._meta import META_DIR, META_FILE, effective_status, read_meta
from ._reader import RunView

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("labtrack")

CATALOG_FILE = ".labtrack-catalog.sqlite"
_MISSING = object()


StatKey = tuple[int, int]


def _scan(root: str) -> list[tuple[str, StatKey | None]]:
    """(run directory, stat key of its metadata) for every run under ``root``.

    Plain strings and one ``stat`` per run: this is the hot path of every query over thousands
    of runs. A run with a ``.labtrack/`` folder but no readable metadata gets the key None.
    """
    found: list[tuple[str, StatKey | None]] = []
    root_key = _meta_key(root)
    if root_key is not None or os.path.isdir(os.path.join(root, META_DIR)):
        return [(root, root_key)]
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            key = _meta_key(entry.path)
            if key is not None or os.path.isdir(os.path.join(entry.path, META_DIR)):
                found.append((entry.path, key))
            else:
                stack.append(entry.path)
    return found


def _meta_key(run_dir: str) -> StatKey | None:
    try:
        st = os.stat(os.path.join(run_dir, META_DIR, META_FILE))
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def find_run_dirs(root: str | Path) -> Iterator[Path]:
    """Every run directory under ``root`` (``root`` itself if it is one); hidden folders skipped."""
    for path, _ in _scan(str(root)):
        yield Path(path)


def lookup(meta: Mapping[str, Any], key: str) -> Any:
    """Value of a dotted ``key`` in run metadata, or ``_MISSING``.

    ``config.optimizer.lr`` walks nested dicts; a literal key containing dots (``summary.val.acc``
    for a summary key ``val.acc``) is found too. ``summary.<k>`` sees the last value of scalar tag
    ``k`` unless the run set ``k`` in its summary.
    """
    head, _, rest = key.partition(".")
    if head == "summary":
        doc: Any = {t: m.get("last") for t, m in meta.get("metrics", {}).items()}
        doc.update(meta.get("summary", {}))
    elif head == "status" and not rest:
        return effective_status(dict(meta))
    else:
        doc = meta.get(head, _MISSING)
    if not rest:
        return doc
    return _walk(doc, rest)


def _walk(doc: Any, path: str) -> Any:
    if not isinstance(doc, Mapping):
        return _MISSING
    if path in doc:
        return doc[path]
    head, _, rest = path.partition(".")
    if not rest or head not in doc:
        return _MISSING
    return _walk(doc[head], rest)


def matches(meta: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    for key, wanted in where.items():
        value = lookup(meta, key)
        if value is _MISSING:
            return False
        if callable(wanted):
            try:
                if not wanted(value):
                    return False
            except (TypeError, ValueError):
                return False
        elif value != wanted:
            return False
    return True


class Store:
    """Every run under ``dir`` (default ``$LABTRACK_DIR`` or ``./out``).

    >>> store = Store("out")                                  # doctest: +SKIP
    >>> [r.name for r in store.runs(where={"config.lr": 0.01})]  # doctest: +SKIP
    """

    def __init__(self, dir: str | Path | None = None, *, catalog: bool = True) -> None:
        if dir is None:
            from .._env import default_store_dir

            dir = default_store_dir()
        self.dir = Path(dir).absolute()
        self.use_catalog = catalog
        self._cache: dict[str, tuple[StatKey | None, dict[str, Any] | None, str | None]] = {}

    def __repr__(self) -> str:
        return f"Store({str(self.dir)!r})"

    # ------------------------------------------------------------------ queries

    def runs(
        self,
        experiment: str | None = None,
        status: str | Sequence[str] | None = None,
        tags: Sequence[str] | Mapping[str, str] | None = None,
        where: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> list[RunView]:
        """Runs matching every filter given, oldest first.

        Args:
            experiment: exact experiment name.
            status: one status or several (``running``, ``completed``, ``failed``, ``killed``,
                ``crashed``, ``unreadable``).
            tags: tag names the run must have (a mapping also checks their values).
            where: dotted keys into the run (``config.lr``, ``params.seed``, ``summary.loss``,
                ``name``...) mapped to a value that must be equal or to a predicate
                (``{"summary.acc": lambda a: a > 0.9}``).
            name: a glob pattern on the run name.

        Unreadable runs (corrupt metadata) are listed, with the reason in ``.error``, when no
        filter is given or when ``status`` asks for them.
        """
        if not self.dir.exists():
            raise StoreError(f"store directory {self.dir} does not exist")
        statuses = {status} if isinstance(status, str) else set(status or ())
        filtered = bool(experiment or statuses or tags or where or name)
        entries = self._entries(experiment=experiment, where=where)
        out = []
        for path, meta, error in entries:
            if meta is None:
                if not filtered or "unreadable" in statuses:
                    view = RunView(path, meta={})
                    view.error = error
                    out.append(view)
                continue
            if experiment is not None and meta.get("experiment") != experiment:
                continue
            if statuses and effective_status(meta) not in statuses:
                continue
            if tags and not _has_tags(meta, tags):
                continue
            if name is not None and not fnmatch.fnmatchcase(str(meta.get("name", "")), name):
                continue
            if where and not matches(meta, where):
                continue
            out.append(RunView(path, meta=meta))
        out.sort(key=lambda v: (v.start_time or 0.0, str(v.dir)))
        return out

    def __iter__(self) -> Iterator[RunView]:
        return iter(self.runs())

    def __len__(self) -> int:
        return len(self.runs())

    def experiments(self) -> list[str]:
        return sorted({v.experiment for v in self.runs() if not v.error})

    def run(self, id_or_path: str | Path) -> RunView:
        """One run by path (absolute, or relative to the store or the working directory), id,
        or unique id prefix."""
        candidate = Path(id_or_path)
        for path in (candidate, self.dir / candidate):
            if (path / META_DIR).is_dir():
                return RunView(path)
        key = str(id_or_path)
        found = [
            (p, m) for p, m, _ in self._entries() if m and str(m.get("id", "")).startswith(key)
        ]
        exact = [(p, m) for p, m in found if m.get("id") == key]
        if exact:
            found = exact
        if not found:
            raise StoreError(f"no run with id or path {key!r} in store {self.dir}")
        if len(found) > 1:
            ids = ", ".join(sorted(str(m.get("id")) for _, m in found))
            raise StoreError(f"run id prefix {key!r} is ambiguous in store {self.dir}: {ids}")
        return RunView(found[0][0], meta=found[0][1])

    # ------------------------------------------------------------------ export

    def to_pandas(self, tags: Sequence[str] | None = None, **filters: Any) -> pd.DataFrame:
        """Scalars of every matching run in long format:
        run_id, experiment, name, tag, step, value, wall_time."""
        from ..errors import require

        pd = require("pandas", "data", "Store.to_pandas()")
        frames = []
        for view in self.runs(**filters):
            if view.error:
                continue
            wanted = [t for t in (tags or view.scalar_tags) if t in set(view.scalar_tags)]
            frame = view.to_pandas(wanted)
            frame.insert(0, "name", view.name)
            frame.insert(0, "experiment", view.experiment)
            frame.insert(0, "run_id", view.id)
            frames.append(frame)
        columns = ["run_id", "experiment", "name", "tag", "step", "value", "wall_time"]
        if not frames:
            return pd.DataFrame(columns=columns)  # type: ignore[attr-defined, no-any-return]
        return pd.concat(frames, ignore_index=True)  # type: ignore[attr-defined, no-any-return]

    def to_arrow(self, tags: Sequence[str] | None = None, **filters: Any) -> pa.Table:
        from ..errors import require

        pa = require("pyarrow", "data", "Store.to_arrow()")
        return pa.Table.from_pandas(self.to_pandas(tags, **filters), preserve_index=False)  # type: ignore[attr-defined]

    def to_parquet(
        self, path: str | Path, tags: Sequence[str] | None = None, **filters: Any
    ) -> Path:
        from ..errors import require

        pq = require("pyarrow.parquet", "data", "Store.to_parquet()")
        pq.write_table(self.to_arrow(tags, **filters), str(path))  # type: ignore[attr-defined]
        return Path(path)

    # ------------------------------------------------------------------ metadata access

    def _entries(
        self, experiment: str | None = None, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, dict[str, Any] | None, str | None]]:
        """(run dir, metadata or None, error) for every run, via the catalog when possible."""
        found = _scan(str(self.dir))
        if self.use_catalog and self.dir.is_dir():
            try:
                return self._entries_from_catalog(found, experiment, where)
            except sqlite3.Error as exc:
                log.debug("catalog at %s unusable (%s); reading metadata files", self.dir, exc)
        return [(path, *self._read(path, key)) for path, key in found]

    def _read(self, path: str, key: StatKey | None) -> tuple[dict[str, Any] | None, str | None]:
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key and key is not None:
            return cached[1], cached[2]
        try:
            meta: dict[str, Any] | None = read_meta(Path(path))
            error = None
        except UnreadableRunError as exc:
            meta, error = None, str(exc)
        self._cache[path] = (key, meta, error)
        return meta, error

    def _entries_from_catalog(
        self,
        found: list[tuple[str, StatKey | None]],
        experiment: str | None,
        where: Mapping[str, Any] | None,
    ) -> list[tuple[str, dict[str, Any] | None, str | None]]:
        prefix = len(str(self.dir)) + 1
        present = {path[prefix:]: (path, key) for path, key in found}
        with _Catalog(self.dir / CATALOG_FILE) as catalog:
            known = catalog.keys()
            changed = []
            for rel, (path, key) in present.items():
                if key is None or known.get(rel) != key:
                    meta, error = self._read(path, key)
                    changed.append((rel, key, meta, error))
            catalog.upsert(changed)
            catalog.delete([rel for rel in known if rel not in present])
            rows = catalog.select(experiment, where)
        out: list[tuple[str, dict[str, Any] | None, str | None]] = []
        for rel, text, error in rows:
            if rel not in present:
                continue
            path, key = present[rel]
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key and key is not None:
                meta = cached[1]  # parsed by an earlier query of this Store: skip json.loads
            else:
                meta = json.loads(text) if text else None
                self._cache[path] = (key, meta, error)
            out.append((path, meta, error))
        return out


def _has_tags(meta: Mapping[str, Any], tags: Sequence[str] | Mapping[str, str]) -> bool:
    have = meta.get("tags", {})
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, Mapping):
        return all(have.get(k) == str(v) for k, v in tags.items())
    return all(t in have for t in tags)


class _Catalog:
    """The SQLite cache of run metadata: (relative path, stat key, JSON, error)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), timeout=2.0, isolation_level=None)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS runs (path TEXT PRIMARY KEY, mtime_ns INTEGER, "
            "size INTEGER, meta TEXT, error TEXT)"
        )

    def __enter__(self) -> _Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    def keys(self) -> dict[str, StatKey]:
        return {
            row[0]: (row[1], row[2])
            for row in self.db.execute("SELECT path, mtime_ns, size FROM runs")
        }

    def upsert(
        self, rows: Iterable[tuple[str, StatKey | None, dict[str, Any] | None, str | None]]
    ) -> None:
        data = [
            (
                rel,
                key[0] if key else -1,
                key[1] if key else -1,
                json.dumps(meta, allow_nan=True) if meta is not None else None,
                error,
            )
            for rel, key, meta, error in rows
        ]
        if data:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)", data)

    def delete(self, rels: list[str]) -> None:
        if rels:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("DELETE FROM runs WHERE path = ?", [(r,) for r in rels])

    def select(
        self, experiment: str | None, where: Mapping[str, Any] | None
    ) -> list[tuple[str, str | None, str | None]]:
        """Rows that may match; equality filters run in SQL, callers re-check exactly."""
        clauses: list[str] = []
        params: list[Any] = []
        if experiment is not None:
            clauses.append("(meta IS NULL OR json_extract(meta, '$.experiment') = ?)")
            params.append(experiment)
        for key, wanted in (where or {}).items():
            clause = _sql_equality(key, wanted)
            if clause is not None:
                clauses.append(f"(meta IS NULL OR {clause[0]})")
                params.extend(clause[1])
        sql = "SELECT path, meta, error FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return list(self.db.execute(sql, params))


def _sql_equality(key: str, wanted: Any) -> tuple[str, list[Any]] | None:
    """A SQL pre-filter for ``key == wanted`` on config/params/tags (nested or literal key)."""
    head, _, rest = key.partition(".")
    if head not in ("config", "params", "tags") or not rest or '"' in key:
        return None
    if isinstance(wanted, bool) or not isinstance(wanted, int | float | str):
        return None
    nested = "$." + ".".join(f'"{part}"' for part in key.split("."))
    literal = f'$."{head}"."{rest}"'
    return (
        "(json_extract(meta, ?) = ? OR json_extract(meta, ?) = ?)",
        [nested, wanted, literal, wanted],
    )
