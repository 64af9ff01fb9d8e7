"""Run metadata that cannot lie: a checksum, a schema of field types, a zombie is dead."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import labtrack
from labtrack.store import open_run
from tests.conftest import start_python


def meta_file(run_dir: Path) -> Path:
    return run_dir / ".labtrack" / "meta.json"


def make_run(root: Path, name: str, lr: float = 0.01) -> Path:
    with labtrack.start_run("sweep", name=name, dir=root, config={"lr": lr}, tags=["t"]) as run:
        run.log({"loss": 0.5, "acc": 0.9}, step=0)
        run.summary["best"] = 0.9
    return run.dir


def every_property(view: labtrack.RunView) -> list[Any]:
    """What a user reads off a listed run: none of it may raise, whatever the metadata says."""
    return [
        view.id,
        view.name,
        view.experiment,
        view.status,
        view.config,
        view.params,
        view.tags,
        view.metrics,
        view.summary,
        view.start_time,
        view.end_time,
        view.duration,
        view.error,
        view.host,
        view.pid,
        view.git,
        view.meta,
    ]


# ---------------------------------------------------------------------------- checksum


def test_meta_json_carries_a_checksum_and_stays_plain_json(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "a")
    raw = meta_file(run_dir).read_bytes()
    assert raw.startswith(b'{"checksum":"crc32:')
    assert json.loads(raw)["status"] == "completed"  # any JSON reader reads it
    if shutil.which("jq"):
        out = subprocess.run(
            ["jq", "-r", ".status", str(meta_file(run_dir))], capture_output=True, text=True
        )
        assert out.stdout.strip() == "completed", out.stderr
    view = open_run(run_dir)
    assert view.status == "completed" and "checksum" not in view.meta


def test_a_flipped_bit_is_reported_not_shown_as_a_status(tmp_path: Path) -> None:
    damaged, intact = make_run(tmp_path, "damaged"), make_run(tmp_path, "intact")
    raw = bytearray(meta_file(damaged).read_bytes())
    at = raw.index(b'"completed"') + 2
    raw[at] ^= 0x01  # "completed" -> "cnmpleted"
    meta_file(damaged).write_bytes(bytes(raw))

    view = open_run(damaged)
    assert view.status == "unreadable"
    assert f"{meta_file(damaged)}: checksum mismatch" in (view.unreadable or "")
    listed = {v.name: v.status for v in labtrack.Store(tmp_path).runs()}
    assert listed == {damaged.name: "unreadable", "intact": "completed"}
    assert [v.dir for v in labtrack.Store(tmp_path).runs(status="completed")] == [intact]


def test_no_single_bit_flip_anywhere_in_meta_json_is_read_as_other_metadata(
    tmp_path: Path,
) -> None:
    run_dir = make_run(tmp_path, "a")
    good = meta_file(run_dir).read_bytes()
    original = open_run(run_dir).meta
    wrong = []
    for byte in range(len(good)):
        for bit in range(8):
            flipped = bytearray(good)
            flipped[byte] ^= 1 << bit
            meta_file(run_dir).write_bytes(bytes(flipped))
            view = open_run(run_dir)
            if view.unreadable is None and view.meta != original:
                wrong.append((byte, bit, view.meta))
    assert wrong == []


def test_metadata_without_a_checksum_still_reads(tmp_path: Path) -> None:
    older = make_run(tmp_path, "older")
    doc = json.loads(meta_file(older).read_bytes())
    doc.pop("checksum", None)
    meta_file(older).write_text(json.dumps(doc, indent=1))  # as labtrack wrote it before
    by_hand = tmp_path / "by-hand"
    (by_hand / ".labtrack").mkdir(parents=True)
    meta_file(by_hand).write_text('{"id": "handmade", "status": "completed", "config": {"lr": 1}}')

    assert open_run(older).status == "completed" and open_run(older).config == {"lr": 0.01}
    assert open_run(by_hand).status == "completed" and open_run(by_hand).config == {"lr": 1}


@pytest.mark.skipif(shutil.which("jq") is None, reason="needs the jq command")
def test_metadata_edited_with_jq_reads_as_edited(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "a")
    out = subprocess.run(
        ["jq", '.name = "renamed"', str(meta_file(run_dir))],
        capture_output=True,
        check=True,
    )
    meta_file(run_dir).write_bytes(out.stdout)  # a deliberate edit: read as hand-written
    assert open_run(run_dir).name == "renamed"


# ---------------------------------------------------------------------------- schema

WRONG_TYPES = [
    ("start_time", "yesterday", "a number or null"),
    ("end_time", True, "a number or null"),
    ("heartbeat", "now", "a number or null"),
    ("metrics", [], "an object"),
    ("metrics", {"loss": [0.5]}, "an object"),
    ("metrics", {"loss": {"last": "x", "min": 0, "max": 1, "count": 1, "step": 0}}, "a number"),
    ("metrics", {"loss": {"min": 0.5}}, "has no 'last'"),
    ("config", "lr=0.01", "an object"),
    ("params", [1], "an object"),
    ("summary", 0.9, "an object"),
    ("tags", ["t"], "an object"),
    ("tags", {"t": 1}, "a string"),
    ("status", 1, "a string"),
    ("status", "cnmpleted", "one of running, completed, failed, killed"),
    ("status", None, "a string"),
    ("pid", "1234", "an integer or null"),
    ("pid_start", "x", "a number or null"),
    ("host", 7, "a string or null"),
    ("id", 12, "a string"),
    ("name", ["a"], "a string"),
    ("experiment", {}, "a string"),
    ("git", "abc123", "an object or null"),
    ("resumed", {}, "a list"),
    ("format", "1", "an integer"),
    ("error", "boom", "an object or null"),
    ("error", {"type": "ValueError", "message": 3, "traceback": ""}, "a string"),
    ("data_size", "1 GB", "an integer or null"),
    ("lost", [], "an object or null"),
]


@pytest.mark.parametrize(("field", "value", "expected"), WRONG_TYPES)
def test_wrong_typed_metadata_makes_one_run_unreadable_and_the_rest_lists(
    tmp_path: Path, field: str, value: Any, expected: str
) -> None:
    good = [make_run(tmp_path, "good1"), make_run(tmp_path, "good2")]
    bad = make_run(tmp_path, "bad")
    doc = json.loads(meta_file(bad).read_bytes())
    doc.pop("checksum", None)
    doc[field] = value
    meta_file(bad).write_text(json.dumps(doc))

    for store in (labtrack.Store(tmp_path), labtrack.Store(tmp_path, catalog=False)):
        views = store.runs()
        assert sorted(str(v.dir) for v in views) == sorted(map(str, [*good, bad]))
        for view in views:
            every_property(view)
        (broken,) = [v for v in views if v.status == "unreadable"]
        reason = broken.unreadable or ""
        assert broken.dir == bad and f"'{field}" in reason and expected in reason, reason
        assert " holds " in reason or " has no " in reason, reason
        assert {v.dir for v in store.runs(status="completed")} == set(good)
        assert {v.dir for v in store.runs(where={"summary.loss": 0.5})} == set(good)
        assert {v.dir for v in store.runs(where={"config.lr": 0.01})} == set(good)
        assert {v.dir for v in store.runs(where={"summary.best": lambda b: b > 0.5})} == set(good)
    assert open_run(bad).status == "unreadable"


def test_the_writers_optional_fields_are_accepted(tmp_path: Path) -> None:
    runs = {}
    for name, extra in {
        "failed": {
            "status": "failed",
            "error": {"type": "ValueError", "message": "diverged", "traceback": "Traceback..."},
        },
        "lost": {"data_size": 1234, "lost": {"points": 10, "why": "disk full"}},
        "nulls": {"error": None, "data_size": None, "lost": None, "pid": None, "git": None},
    }.items():
        run_dir = make_run(tmp_path, name)
        doc = json.loads(meta_file(run_dir).read_bytes())
        doc.pop("checksum", None)
        meta_file(run_dir).write_text(json.dumps({**doc, **extra}))
        runs[name] = open_run(run_dir)
    assert [v.unreadable for v in runs.values()] == [None, None, None]
    assert str(runs["failed"].error) == "ValueError: diverged"
    assert runs["lost"].meta["lost"] == {"points": 10, "why": "disk full"}


# ---------------------------------------------------------------------------- liveness

HOLDER = """
import sys, time, labtrack
run = labtrack.start_run("e", name="zombie", dir="store")
print(run.dir, flush=True)
time.sleep(600)
"""


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_a_killed_writer_not_yet_reaped_reads_as_crashed(tmp_path: Path) -> None:
    proc = start_python(HOLDER, tmp_path)
    try:
        run_dir = Path(proc.stdout.readline().strip())  # type: ignore[union-attr]
        assert open_run(run_dir).status == "running"
        os.kill(proc.pid, signal.SIGKILL)  # and deliberately not reaped: no wait(), no poll()
        deadline = time.monotonic() + 20
        while _state(proc.pid) != "Z":
            assert time.monotonic() < deadline, "the killed child never became a zombie"
            time.sleep(0.01)

        assert open_run(run_dir).status == "crashed"
        assert [v.dir for v in labtrack.Store(tmp_path / "store").runs(status="crashed")] == [
            run_dir
        ]
        assert _state(proc.pid) == "Z"  # still not reaped: the zombie itself was judged dead
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_a_run_records_the_git_checkout_it_ran_in_even_when_it_is_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkout is looked up off the caller's thread (``git status`` can take a while in a
    big repository); a run that ends at once still records it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "train.py").write_text("print('hi')\n")
    subprocess.run([*git, "add", "train.py"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=repo, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    (repo / "train.py").write_text("print('changed')\n")
    monkeypatch.chdir(repo)
    with labtrack.start_run("git", dir=tmp_path / "store") as run:
        pass
    assert open_run(run.dir).git == {"commit": commit, "branch": "main", "dirty": True}
