"""Store: every run under a directory, found recursively, with queries across them.

A store is any folder: runs are found by their ``.labtrack/`` marker wherever they sit, so a
folder of runs copied from a cluster, one runner sweep, or a single run can all be opened.

The catalog (``.labtrack-catalog.sqlite`` at the root) is only a cache of run metadata, so that
filtering thousands of runs does not read thousands of JSON files and ``where`` equality tests
run inside SQLite. Answers with and without it (``Store(dir, catalog=False)``) are the same:

- **Keys.** A row is keyed by its metadata file's (mtime_ns, size, inode, ctime_ns). Replacing a
  file always changes the inode or the ctime, also when a copy keeps size and mtime
  (``rsync -t``, ``cp -p``), so a changed run is always read again.
- **Pre-filter, never filter.** SQL only drops rows that cannot match; every row it returns is
  checked again in Python by the same code that filters without the catalog. Numbers are
  compared within a few ULPs (SQLite's decimal parsing may differ from Python's in the last
  bit), strings only when SQLite's JSON functions read them exactly (no control characters or
  characters outside the BMP), keys only when they are plain ASCII; anything else is left to
  Python. A row holding NaN or an infinity keeps its exact JSON for reading and a copy with those
  numbers as null for SQL, whose JSON functions reject them (neither equals a finite number).
- **Damage.** Each row carries the CRC-32 of its JSON: a damaged row is dropped and its run read
  from its file again. A catalog SQLite cannot use (garbage, truncated, a directory in its place,
  an unknown schema, read-only) is deleted (a directory is renamed aside) and rebuilt once; if
  that fails too (a read-only store, a file system without working locks), or the catalog is
  busy, queries read the metadata files. A query never fails because of the catalog.
- **Unreadable runs** are not cached: they are read (and their reason stated) on every query.

:data:`CATALOG_VERSION` names the row format and the metadata checks rows were made with; a
catalog of another version is rebuilt.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, UnreadableRunError
from ._lookup import MISSING as _MISSING
from ._lookup import lookup
from ._meta import META_DIR, META_FILE, effective_status, read_meta
from ._reader import RunView

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("labtrack")

CATALOG_FILE = ".labtrack-catalog.sqlite"
#: The catalog's row format (SQLite ``user_version``); bump it when rows or metadata checks change.
CATALOG_VERSION = 2

#: (mtime_ns, size, inode, ctime_ns) of a metadata file: what tells a cached row is current.
StatKey = tuple[int, int, int, int]
Entry = tuple[str, dict[str, Any] | None, str | None]


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
    ino = st.st_ino if st.st_ino < 1 << 63 else st.st_ino - (1 << 64)  # SQLite holds int64
    return st.st_mtime_ns, st.st_size, ino, st.st_ctime_ns


def find_run_dirs(root: str | Path) -> Iterator[Path]:
    """Every run directory under ``root`` (``root`` itself if it is one); hidden folders skipped."""
    for path, _ in _scan(str(root)):
        yield Path(path)


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

        Unreadable runs (corrupt metadata) are listed, with the reason in ``.unreadable``, when no
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
                    view.unreadable = error
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
        return sorted({v.experiment for v in self.runs() if not v.unreadable})

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
            if view.unreadable:
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
    ) -> list[Entry]:
        """(run dir, metadata or None, error) for every run that may match, via the catalog when
        possible; the caller applies every filter itself."""
        found = _scan(str(self.dir))
        if self.use_catalog and self.dir.is_dir():
            entries = self._entries_via_catalog(found, experiment, where)
            if entries is not None:
                return entries
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

    def _entries_via_catalog(
        self,
        found: list[tuple[str, StatKey | None]],
        experiment: str | None,
        where: Mapping[str, Any] | None,
    ) -> list[Entry] | None:
        """The entries from the catalog, or None when it cannot be used here. A broken catalog
        is set aside and rebuilt once."""
        path = self.dir / CATALOG_FILE
        for attempt in range(2):
            try:
                return self._entries_from_catalog(path, found, experiment, where)
            except sqlite3.Error as exc:
                broken = _is_broken(exc)
                if attempt == 0 and broken and _set_aside(path):
                    log.info("catalog %s was unusable (%s); rebuilding it", path, exc)
                    continue
                log.debug("catalog %s unusable (%s); reading metadata files", path, exc)
        return None

    def _entries_from_catalog(
        self,
        catalog_path: Path,
        found: list[tuple[str, StatKey | None]],
        experiment: str | None,
        where: Mapping[str, Any] | None,
    ) -> list[Entry]:
        prefix = len(str(self.dir)) + 1
        present: dict[str, tuple[str, StatKey]] = {}
        out: list[Entry] = []
        for path, key in found:
            rel = path[prefix:]
            if key is not None and (rel.isascii() or _utf8(rel)):
                present[rel] = (path, key)
            else:  # no metadata, or a file name SQLite cannot hold: read it directly
                out.append((path, *self._read(path, key)))
        with _Catalog(catalog_path) as catalog:
            unreadable = self._sync(catalog, present)
            try:
                rows = catalog.select(experiment, where)
            except sqlite3.OperationalError as exc:
                if "JSON" not in str(exc):
                    raise
                catalog.drop_malformed()  # a damaged row SQLite cannot parse: read those again
                unreadable = self._sync(catalog, present)
                rows = catalog.select(experiment, where)
            out.extend(unreadable)
            out.extend(self._decode_rows(catalog, rows, present))
        return out

    def _decode_rows(
        self,
        catalog: _Catalog,
        rows: list[tuple[str, str, int]],
        present: Mapping[str, tuple[str, StatKey]],
    ) -> list[Entry]:
        """The entries of the rows selected; a damaged row is replaced by what its file says."""
        out: list[Entry] = []
        repaired: list[tuple[str, StatKey, dict[str, Any]]] = []
        dropped: list[str] = []
        for rel, text, crc in rows:
            if rel not in present:
                continue
            path, key = present[rel]
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                out.append((path, cached[1], cached[2]))  # parsed by an earlier query
                continue
            meta = _decode_row(text, crc)
            if meta is None:
                log.info("catalog %s: damaged row for %s; reading it again", catalog.path, rel)
                self._cache.pop(path, None)
                meta, error = self._read(path, key)
                if meta is not None:
                    repaired.append((rel, key, meta))
                else:
                    dropped.append(rel)
                out.append((path, meta, error))
                continue
            self._cache[path] = (key, meta, None)
            out.append((path, meta, None))
        catalog.upsert(repaired)
        catalog.delete(dropped)
        return out

    def _sync(self, catalog: _Catalog, present: Mapping[str, tuple[str, StatKey]]) -> list[Entry]:
        """Bring the catalog up to date with the files; the unreadable runs (not cached)."""
        known = catalog.keys()
        fresh: list[tuple[str, StatKey, dict[str, Any]]] = []
        unreadable: list[Entry] = []
        stale = [rel for rel in known if rel not in present]
        for rel, (path, key) in present.items():
            if known.get(rel) != key:
                meta, error = self._read(path, key)
                if meta is not None:
                    fresh.append((rel, key, meta))
                else:
                    unreadable.append((path, None, error))
                    if rel in known:
                        stale.append(rel)
        catalog.upsert(fresh)
        catalog.delete(stale)
        return unreadable


def _has_tags(meta: Mapping[str, Any], tags: Sequence[str] | Mapping[str, str]) -> bool:
    have = meta.get("tags", {})
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, Mapping):
        return all(have.get(k) == str(v) for k, v in tags.items())
    return all(t in have for t in tags)


class _Catalog:
    """The SQLite cache of run metadata: one row per readable run (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=2.0, isolation_level=None)
        try:
            if self._version() != CATALOG_VERSION:
                self._create()
        except BaseException:
            self.db.close()
            raise

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _create(self) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self._version() == CATALOG_VERSION:
                return  # another process made it meanwhile
            self.db.execute("DROP TABLE IF EXISTS runs")
            self.db.execute(
                "CREATE TABLE runs (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, "
                "ino INTEGER, ctime_ns INTEGER, meta TEXT NOT NULL, query TEXT, "
                "crc INTEGER NOT NULL)"
            )
            self.db.execute(f"PRAGMA user_version = {CATALOG_VERSION}")

    def __enter__(self) -> _Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    def keys(self) -> dict[str, StatKey]:
        rows = self.db.execute("SELECT path, mtime_ns, size, ino, ctime_ns FROM runs")
        return {path: (mtime, size, ino, ctime) for path, mtime, size, ino, ctime in rows}

    def upsert(self, rows: Iterable[tuple[str, StatKey, dict[str, Any]]]) -> None:
        data = [(rel, *key, *_encode_row(meta)) for rel, key, meta in rows]
        if data:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?)", data)

    def delete(self, rels: list[str]) -> None:
        if rels:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("DELETE FROM runs WHERE path = ?", [(r,) for r in rels])

    def drop_malformed(self) -> None:
        """Delete the rows whose JSON SQLite cannot parse (damage the pre-filter trips on)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM runs WHERE NOT json_valid(coalesce(query, meta))")

    def select(
        self, experiment: str | None, where: Mapping[str, Any] | None
    ) -> list[tuple[str, str, int]]:
        """(path, JSON, CRC) of the rows that may match; callers re-check every row exactly."""
        clauses: list[str] = []
        params: list[Any] = []
        if experiment is not None and _sqlite_text(experiment):
            clauses.append("json_extract(coalesce(query, meta), '$.experiment') = ?")
            params.append(experiment)
        for key, wanted in (where or {}).items():
            clause = _sql_equality(key, wanted)
            if clause is not None:
                clauses.append(clause[0])
                params.extend(clause[1])
        sql = "SELECT path, meta, crc FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return list(self.db.execute(sql, params))


def _encode_row(meta: dict[str, Any]) -> tuple[str, str | None, int]:
    """A row's exact JSON, its copy for SQL (None when the same: no NaN or infinity), its CRC."""
    try:
        text = json.dumps(meta, separators=(",", ":"), allow_nan=False)
        query = None
    except ValueError:  # NaN or an infinity somewhere: SQLite's JSON functions reject those
        text = json.dumps(meta, separators=(",", ":"), allow_nan=True)
        query = json.dumps(_finite(meta), separators=(",", ":"), allow_nan=False)
    return text, query, zlib.crc32(text.encode())


def _finite(doc: Any) -> Any:
    """``doc`` with every NaN and infinity replaced by None."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_finite(v) for v in doc]
    return doc


def _decode_row(text: object, crc: object) -> dict[str, Any] | None:
    """A row's metadata, or None when the row is damaged (checksum, JSON or shape)."""
    if not isinstance(text, str) or zlib.crc32(text.encode()) != crc:
        return None
    try:
        meta = json.loads(text)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


# SQLite error names that say the catalog is busy or the disk is in trouble, not that the
# catalog itself is broken: those fall back to the metadata files and keep the catalog.
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_NOMEM")


def _is_broken(exc: sqlite3.Error) -> bool:
    name = str(getattr(exc, "sqlite_errorname", ""))
    return not name.startswith(_TRANSIENT)


def _set_aside(path: Path) -> bool:
    """Remove a broken catalog (a directory in its place is renamed, not deleted); False when
    there was none or it cannot be removed (a read-only store)."""
    try:
        if path.is_dir() and not path.is_symlink():
            os.rename(path, path.with_name(f"{path.name}.broken-{os.getpid()}-{time.time_ns()}"))
        else:
            path.unlink()
        for suffix in ("-journal", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    except OSError:
        return False
    return True


# Text SQLite's JSON functions (3.40 and older) decode exactly: no control characters (escaped
# in JSON), no surrogates, nothing outside the BMP (escaped as surrogate pairs).
_UNSAFE_TEXT = re.compile("[\x00-\x1f\ud800-\udfff\U00010000-\U0010ffff]")
# Object keys SQLite's JSON paths find: printable ASCII without quote or backslash (SQLite 3.40
# compares a path's label with the key as escaped in the JSON text).
_SAFE_KEY = re.compile(r"[ !#-\[\]-~]+")
_INT64 = range(-(1 << 63), 1 << 63)


def _utf8(text: str) -> bool:
    """Whether ``text`` can be stored in SQLite (a file name undecodable bytes are not)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _sqlite_text(text: object) -> bool:
    return isinstance(text, str) and _UNSAFE_TEXT.search(text) is None


def _sql_equality(key: str, wanted: Any) -> tuple[str, list[Any]] | None:
    """A SQL pre-filter for ``lookup(meta, key) == wanted`` on config/params/tags, or None when
    SQL cannot be sure to keep every match (then Python alone decides).

    It tests every path :func:`lookup` may take (``config.a.b.c`` is ``a`` → ``b`` → ``c``,
    ``a`` → ``b.c`` or the literal key ``a.b.c``), and numbers within a few ULPs.
    """
    head, _, rest = key.partition(".")
    if head not in ("config", "params", "tags") or not rest:
        return None
    parts = rest.split(".")
    if not all(_SAFE_KEY.fullmatch(part) for part in parts):
        return None
    if isinstance(wanted, bool):
        return None  # True == 1 in Python; JSON true is 1 in SQLite too, but keep it simple
    values: list[Any]
    if isinstance(wanted, str):
        if not _sqlite_text(wanted):
            return None
        test, values = "= ?", [wanted]
    elif isinstance(wanted, int | float):
        if isinstance(wanted, int) and wanted not in _INT64:
            return None
        number = float(wanted)
        if not math.isfinite(number):
            return None
        margin = 4 * math.ulp(number)
        test, values = "BETWEEN ? AND ?", [number - margin, number + margin]
    else:
        return None
    tests: list[str] = []
    params: list[Any] = []
    for split in range(len(parts)):
        steps = "".join(f'."{part}"' for part in parts[:split])
        params.append(f'$."{head}"{steps}."{".".join(parts[split:])}"')
        params.extend(values)
        tests.append(f"json_extract(coalesce(query, meta), ?) {test}")
    return "(" + " OR ".join(tests) + ")", params
