"""The catalog is only a cache: whatever happens to it, queries answer as the metadata files do."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labtrack
from labtrack.store import _store

CATALOG = ".labtrack-catalog.sqlite"


def make_run(root: Path, name: str, config: dict[str, Any], **summary: Any) -> Path:
    with labtrack.start_run("sweep", name=name, dir=root, config=config) as run:
        run.log({"loss": 0.5}, step=0)
        for key, value in summary.items():
            run.summary[key] = value
    return run.dir


def names(views: list[labtrack.RunView]) -> list[str]:
    return sorted(v.name for v in views)


def answer(store: labtrack.Store, **query: Any) -> list[tuple[str, str, str | None, str]]:
    """Everything a query says about each run, NaN-safe (compared as JSON text)."""
    return [(str(v.dir), v.status, v.unreadable, json.dumps(v.meta)) for v in store.runs(**query)]


def same_answers(root: Path, **query: Any) -> list[tuple[str, str, str | None, str]]:
    with_catalog = answer(labtrack.Store(root), **query)
    assert with_catalog == answer(labtrack.Store(root, catalog=False), **query)
    return with_catalog


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The metadata files queries read (a query the catalog answers reads none of them)."""
    reads: list[Path] = []
    real = _store.read_meta

    def counting(run_dir: Path) -> dict[str, Any]:
        reads.append(run_dir)
        return real(run_dir)

    monkeypatch.setattr(_store, "read_meta", counting)
    return reads


def catalog_rows(root: Path) -> int:
    db = sqlite3.connect(root / CATALOG)
    try:
        return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])
    finally:
        db.close()


# ---------------------------------------------------------------------------- NaN and infinities


def test_a_nan_in_one_run_leaves_where_queries_to_the_catalog(
    tmp_path: Path, count_reads: list[Path]
) -> None:
    make_run(tmp_path, "diverged", {"lr": 0.01, "clip": math.nan}, best=math.nan)
    for lr in (0.01, 0.1, 0.001):
        make_run(tmp_path, f"lr{lr}", {"lr": lr, "clip": 1.0})
    assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == [
        "diverged",
        "lr0.01",
    ]
    count_reads.clear()
    assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == [
        "diverged",
        "lr0.01",
    ]
    assert count_reads == []  # answered from the catalog, not by reading every file again


def test_nan_and_infinities_compare_as_python_compares_them(tmp_path: Path) -> None:
    values = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "one": 1.0,
        "text-NaN": "NaN",
        "text-Infinity": "Infinity",
        "null": None,
        "nested-nan": [math.nan, 1.0],
    }
    for name, value in values.items():
        make_run(tmp_path, name, {"x": value, "deep": {"x": value}})
    for key in ("config.x", "config.deep.x"):
        assert names(labtrack.Store(tmp_path).runs(where={key: math.inf})) == ["inf"]
        assert names(labtrack.Store(tmp_path).runs(where={key: -math.inf})) == ["-inf"]
        assert names(labtrack.Store(tmp_path).runs(where={key: 1})) == ["one"]
        assert names(labtrack.Store(tmp_path).runs(where={key: "NaN"})) == ["text-NaN"]
        assert names(labtrack.Store(tmp_path).runs(where={key: None})) == ["null"]
        assert labtrack.Store(tmp_path).runs(where={key: math.nan}) == []  # NaN equals nothing
        is_nan = {key: lambda v: isinstance(v, float) and math.isnan(v)}
        assert names(labtrack.Store(tmp_path).runs(where=is_nan)) == ["nan"]
        for wanted in (math.inf, 1, "NaN", None, math.nan, [math.nan, 1.0]):
            same_answers(tmp_path, where={key: wanted})
    (nan_run,) = labtrack.Store(tmp_path).runs(name="nan")
    assert math.isnan(nan_run.config["x"])  # read back from the catalog as NaN, not as null


# ---------------------------------------------------------------------------- damaged rows


def test_a_row_that_is_not_json_is_dropped_and_read_again(tmp_path: Path) -> None:
    for lr in (0.1, 0.01):
        make_run(tmp_path, f"lr{lr}", {"lr": lr})
    labtrack.Store(tmp_path).runs()  # builds the catalog
    db = sqlite3.connect(tmp_path / CATALOG)
    with db:
        db.execute('UPDATE runs SET meta = \'{"id": "abc", "config": \'')
    db.close()

    assert names(labtrack.Store(tmp_path).runs()) == ["lr0.01", "lr0.1"]
    assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == ["lr0.01"]
    db = sqlite3.connect(tmp_path / CATALOG)
    texts = [row[0] for row in db.execute("SELECT meta FROM runs")]
    db.close()
    assert len(texts) == 2 and all(json.loads(t)["config"]["lr"] in (0.1, 0.01) for t in texts)


def test_a_row_damaged_into_other_json_is_detected(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "a", {"lr": 0.01})
    labtrack.Store(tmp_path).runs()
    db = sqlite3.connect(tmp_path / CATALOG)
    with db:
        db.execute("UPDATE runs SET meta = replace(meta, '0.01', '0.02')")  # one digit changed
    db.close()

    (view,) = labtrack.Store(tmp_path).runs()
    assert view.dir == run_dir and view.config == {"lr": 0.01}
    assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == ["a"]


# ---------------------------------------------------------------------------- broken catalogs


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "not-ours.txt").write_text("keep me")


def _wrong_schema(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER)")
    db.execute("INSERT INTO runs VALUES ('a', 1, 2)")
    db.commit()
    db.close()


def _an_older_catalog(path: Path) -> None:
    """The catalog format labtrack wrote before (5 columns, keyed by mtime and size)."""
    path.unlink()
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE runs (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, "
        "meta TEXT, error TEXT)"
    )
    db.commit()
    db.close()


def _same_version_wrong_columns(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (x)")
    db.execute(f"PRAGMA user_version = {_store.CATALOG_VERSION}")
    db.commit()
    db.close()


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "random bytes": _garbage,
    "truncated": _truncated,
    "a directory": _directory,
    "wrong schema": _wrong_schema,
    "an older catalog": _an_older_catalog,
    "same version, wrong columns": _same_version_wrong_columns,
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_catalog_is_rebuilt(tmp_path: Path, breakage: str) -> None:
    for i in range(30):  # enough rows for a catalog of several pages
        make_run(tmp_path, f"r{i:02d}", {"lr": 0.01 if i % 3 == 0 else 0.1, "i": i})
    expected = same_answers(tmp_path, where={"config.lr": 0.01})
    catalog = tmp_path / CATALOG
    BREAKAGES[breakage](catalog)

    assert answer(labtrack.Store(tmp_path), where={"config.lr": 0.01}) == expected
    assert len(labtrack.Store(tmp_path).runs()) == 30
    assert catalog.is_file() and catalog_rows(tmp_path) == 30  # rebuilt in place
    if breakage == "a directory":
        (aside,) = tmp_path.glob(f"{CATALOG}.broken-*")
        assert (aside / "not-ours.txt").read_text() == "keep me"  # moved aside, not deleted


def _permissions_enforced() -> bool:
    """Whether this process is refused writes to a read-only file (root without dropped
    capabilities is not)."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe"
        probe.write_bytes(b"")
        probe.chmod(0o444)
        try:
            probe.open("ab").close()
        except PermissionError:
            return True
        return False


READ_ONLY = pytest.mark.skipif(
    not _permissions_enforced(), reason="this process writes read-only files anyway (root)"
)


@READ_ONLY
def test_a_read_only_catalog_in_a_read_only_store_answers_from_the_files(tmp_path: Path) -> None:
    for lr in (0.1, 0.01):
        make_run(tmp_path, f"lr{lr}", {"lr": lr})
    (tmp_path / CATALOG).write_bytes(b"garbage" * 1000)
    make_run(tmp_path, "late", {"lr": 0.01})  # a change the catalog would have to record
    modes = {p: p.stat().st_mode for p in [tmp_path, *tmp_path.rglob("*")] if p.is_dir()}
    for path in [*modes, tmp_path / CATALOG]:
        path.chmod(0o555)
    try:
        assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == [
            "late",
            "lr0.01",
        ]
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@READ_ONLY
def test_a_read_only_catalog_file_is_replaced(tmp_path: Path) -> None:
    make_run(tmp_path, "a", {"lr": 0.01})
    labtrack.Store(tmp_path).runs()
    (tmp_path / CATALOG).chmod(0o444)
    make_run(tmp_path, "b", {"lr": 0.01})
    assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == ["a", "b"]
    assert catalog_rows(tmp_path) == 2


def test_a_catalog_locked_by_another_process_is_kept_and_the_files_answer(
    tmp_path: Path,
) -> None:
    for lr in (0.1, 0.01):
        make_run(tmp_path, f"lr{lr}", {"lr": lr})
    labtrack.Store(tmp_path).runs()
    holder = sqlite3.connect(tmp_path / CATALOG, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another process rebuilding it, say
    try:
        make_run(tmp_path, "late", {"lr": 0.01})
        assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == [
            "late",
            "lr0.01",
        ]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert catalog_rows(tmp_path) == 2  # still the catalog the other process holds
    assert names(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})) == ["late", "lr0.01"]
    assert catalog_rows(tmp_path) == 3


# ---------------------------------------------------------------------------- stale rows


def _cp_p(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-p", str(src), str(dst)], check=True)  # in place: same inode


def _rsync_t(src: Path, dst: Path) -> None:
    # What rsync -t does: a temporary file beside the target, its mtime set, renamed into place.
    tmp = dst.with_name(".meta.json.rsync")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


@pytest.mark.parametrize("copy", [_cp_p, _rsync_t], ids=["cp -p", "rsync -t"])
def test_metadata_replaced_with_the_same_size_and_mtime_is_read_again(
    tmp_path: Path, copy: Callable[[Path, Path], None]
) -> None:
    run_dir = make_run(tmp_path / "store", "a", {"lr": 0.01})
    meta = run_dir / ".labtrack" / "meta.json"
    assert names(labtrack.Store(tmp_path / "store").runs(where={"config.lr": 0.01})) == ["a"]
    before = meta.stat()
    edited = tmp_path / "meta.json"
    doc = json.loads(meta.read_bytes())
    doc.pop("checksum", None)
    doc["config"]["lr"] = 0.02  # same length
    edited.write_text(json.dumps(doc, indent=1))
    edited.write_bytes(edited.read_bytes().ljust(before.st_size)[: before.st_size])
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))

    copy(edited, meta)
    after = meta.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    store = labtrack.Store(tmp_path / "store")
    assert store.runs(where={"config.lr": 0.01}) == []
    assert [v.config for v in store.runs()] == [{"lr": 0.02}]
    same_answers(tmp_path / "store", where={"config.lr": 0.02})


# ---------------------------------------------------------------------------- with == without

# Dotted keys often: ``config.a.b`` may name {"a": {"b": ...}} or {"a.b": ...}.
PLAIN_KEYS = st.sampled_from(["lr", "a", "b", "x y", "é", "0", "k\\", 'q"', "[0]", "$", "😀"])
DOTTED_KEYS = st.sampled_from(["a.b", "b.c", "a.b.c", "lr.x", "a..b", ".a", "b."])
KEYS = st.one_of(PLAIN_KEYS, DOTTED_KEYS)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2, 2**53 + 1, 2**63 - 1, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.01, 0.1, 1.0, 2.0, 1e-310, 1.7976931348623157e308]),
    st.text(max_size=5),
    st.sampled_from(["1", "0.01", "NaN", "Infinity", "true", "null", "é", "😀", "a\x00b", '"']),
    st.sampled_from(["\\", "\ud800", "\n", "0.1", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
CONFIGS = st.dictionaries(KEYS, VALUES, max_size=4)
TAGS = st.dictionaries(KEYS, st.sampled_from(["", "x", "1"]), max_size=2)
PREDICATES: list[Callable[[Any], bool]] = [
    lambda v: v is None,
    lambda v: isinstance(v, str),
    lambda v: v > 0,
    lambda v: v != v,
    lambda v: isinstance(v, bool),
]


def _paths(doc: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every dotted key a query may name in ``doc``, with the value there."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield f"{prefix}.{key}", value
            yield from _paths(value, f"{prefix}.{key}")


def _write_run(root: Path, i: int, config: Any, tags: Any, broken: bool) -> Path:
    """A run's metadata as a writer (or a copy from elsewhere) leaves it on disk."""
    run_dir = root / f"run{i:02d}"
    (run_dir / ".labtrack").mkdir(parents=True, exist_ok=True)
    doc = {
        "format": 1,
        "id": f"{i:012x}",
        "experiment": f"exp{i % 2}",
        "name": f"run{i:02d}",
        "status": "completed",
        "config": config,
        "params": {"seed": i},
        "tags": {**tags, "bad": 1} if broken else tags,  # a wrong-typed tag: unreadable
        "summary": {"acc": i / 10},
        "metrics": {},
        "start_time": 1000.0 + i,
        "end_time": 1001.0 + i,
    }
    meta = run_dir / ".labtrack" / "meta.json"
    tmp = meta.with_name("meta.json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, meta)
    return run_dir


@settings(
    max_examples=60,
    database=None,  # nothing written into the working tree
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    runs=st.lists(st.tuples(CONFIGS, TAGS, st.booleans()), min_size=1, max_size=8),
    data=st.data(),
)
def test_answers_with_and_without_the_catalog_are_identical(
    runs: list[tuple[Any, Any, bool]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dirs = [
            _write_run(root, i, c, t, broken and i % 4 == 3)
            for i, (c, t, broken) in enumerate(runs)
        ]
        kept = labtrack.Store(root)  # one Store queried again and again: its memory cache too
        for round_ in range(3):
            docs = [
                {"config": c, "params": {"seed": i}, "tags": t} for i, (c, t, _) in enumerate(runs)
            ]
            known = [kv for doc in docs for head, d in doc.items() for kv in _paths(d, head)]
            for _ in range(4):
                where: dict[str, Any] = {}
                for _ in range(data.draw(st.integers(1, 2), label="keys")):
                    if known and data.draw(st.booleans(), label="known key"):
                        key, value = data.draw(st.sampled_from(known), label="key")
                    else:
                        key = "config." + data.draw(KEYS, label="other key")
                        value = None
                    kind = data.draw(st.sampled_from(["same", "other", "predicate"]))
                    if kind == "same" and value is not None:
                        where[key] = value
                    elif kind == "predicate":
                        where[key] = data.draw(st.sampled_from(PREDICATES), label="predicate")
                    else:
                        where[key] = data.draw(SCALARS, label="wanted")
                expected = answer(labtrack.Store(root, catalog=False), where=where)
                assert answer(labtrack.Store(root), where=where) == expected, where
                assert answer(kept, where=where) == expected, where
            assert answer(kept) == answer(labtrack.Store(root, catalog=False))
            # change some runs between rounds: a new config, maybe a deleted run
            if round_ < 2 and dirs:
                i = data.draw(st.integers(0, len(runs) - 1), label="changed run")
                runs[i] = (data.draw(CONFIGS, label="new config"), runs[i][1], runs[i][2])
                _write_run(root, i, runs[i][0], runs[i][1], runs[i][2] and i % 4 == 3)
                if data.draw(st.booleans(), label="delete one"):
                    shutil.rmtree(dirs[-1])
                    dirs.pop()
                    runs.pop()


def test_the_catalog_is_used_from_many_threads_at_once(tmp_path: Path) -> None:
    for i in range(20):
        make_run(tmp_path, f"r{i:02d}", {"lr": 0.01 if i % 2 else 0.1})
    errors: list[BaseException] = []
    counts: list[int] = []

    def query() -> None:
        try:
            for _ in range(5):
                counts.append(len(labtrack.Store(tmp_path).runs(where={"config.lr": 0.01})))
        except BaseException as exc:  # reported below
            errors.append(exc)

    (tmp_path / CATALOG).unlink(missing_ok=True)
    threads = [threading.Thread(target=query) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and counts == [10] * 20
