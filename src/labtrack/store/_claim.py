"""Becoming the one writer of a run directory: creating it, or taking over one whose writer is gone.

Ownership is a numbered claim file, ``.labtrack/claim.<N>`` (the owner's pid, host and process
start time); the highest N is the current owner, and ``released.<N>`` beside it says that owner
finished. Becoming the writer is one atomic step that needs no file lock (locks fail on NFS):

* a new run's ``.labtrack/`` folder is built under a temporary name holding ``meta.json`` and
  ``claim.1`` and renamed into place, so a reader never sees a marker without metadata, and two
  processes creating the same directory cannot both win (renaming onto a non-empty folder fails);
* an existing run is taken over only when its owner released it or is dead, by creating
  ``claim.<N+1>`` with ``O_CREAT | O_EXCL``: of two processes resuming at the same instant, exactly
  one creates it; the other then sees a live owner and gets
  :class:`~labtrack.errors.RunLockedError` naming its pid and host. Runs written before claim files
  existed count as claim 0, owned by the pid in their metadata.

Taking over drops a torn tail left by a killed writer (and only a torn tail: damaged bytes are
kept and reported by readers; see ``_records``) and restores what logging continues from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import RunLockedError
from . import _records as rec
from ._meta import (
    DATA_FILE,
    FORMAT_VERSION,
    META_DIR,
    META_FILE,
    hostname,
    process_start_time,
    read_meta,
    write_json_atomic,
    writer_alive,
)
from ._summary import TagStats, update_stats

log = logging.getLogger("labtrack")


class Restored:
    """What a resumed run continues from: tag ids, next auto-steps and statistics."""

    def __init__(self) -> None:
        self.tag_names: list[str | None] = []  # None: an id whose name is lost
        self.max_tag_id = -1  # the highest tag id any block uses (new tags must not reuse it)
        self.next_steps: dict[str, int] = {}
        self.stats: TagStats = {}
        self.text_steps: dict[str, int] = {}
        self.media_steps: dict[tuple[str, str], int] = {}


class Claimed(NamedTuple):
    """The outcome of a claim: the metadata as written, what to continue from, and the claim
    number the writer releases at the end (see :func:`release`)."""

    meta: dict[str, Any]
    restored: Restored
    number: int


def claim(
    run_dir: Path,
    experiment: str,
    name: str | None,
    config: dict[str, Any],
    tags: dict[str, str],
    run_id: str | None = None,
    owner: Mapping[str, Any] | None = None,
) -> Claimed:
    """Become the one writer of ``run_dir``: create it, or take it over from a finished or dead
    writer; :class:`~labtrack.errors.RunLockedError` while another writer lives.

    ``owner`` (``pid``, ``host``, ``pid_start``) names the writing process when it is not this
    one: a writer on another machine that claims through the store's node. Liveness is then
    judged by that process (on this host) or by its heartbeats (elsewhere).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = _new_meta(run_dir, experiment, name, config, tags)
    if run_id is not None:
        meta["id"] = run_id
    if owner is not None:
        meta.update({key: owner[key] for key in ("pid", "host", "pid_start")})
    meta_dir = run_dir / META_DIR
    if not meta_dir.exists():
        staging = run_dir / f"{META_DIR}-new-{os.getpid()}-{meta['id']}"
        staging.mkdir()
        write_json_atomic(staging / META_FILE, meta)
        _claim_file(staging, 1).write_text(json.dumps(_owner(meta)))
        try:
            os.rename(staging, meta_dir)
            return Claimed(meta, Restored(), 1)
        except OSError:  # someone else made it first: take over (or refuse) below
            shutil.rmtree(staging, ignore_errors=True)
    return _take_over(run_dir, meta, config, tags)


def release(run_dir: Path, number: int) -> None:
    """Say that the writer holding claim ``number`` has finished (the run may be taken over)."""
    (run_dir / META_DIR / f"released.{number}").write_bytes(b"")


def _claim_file(meta_dir: Path, number: int) -> Path:
    return meta_dir / f"claim.{number}"


def _owner(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("pid", "host", "pid_start", "start_time")}


def _current_claim(meta_dir: Path) -> int:
    numbers = [0]
    for entry in os.listdir(meta_dir):
        head, _, tail = entry.partition(".")
        if head == "claim" and tail.isdigit():
            numbers.append(int(tail))
    return max(numbers)


def _holder(meta_dir: Path, number: int, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Who holds claim ``number`` while they live, or None when the run is free to take."""
    if number == 0:  # a run from before claim files: judged by its metadata alone
        return meta if meta.get("status") == "running" and writer_alive(meta) else None
    if (meta_dir / f"released.{number}").exists():
        return None
    try:
        owner = json.loads(_claim_file(meta_dir, number).read_bytes())
    except (OSError, ValueError):
        owner = None
    if not isinstance(owner, dict):  # unreadable claim (a crash while writing it): by metadata
        owner = meta
    judged = {**owner, "heartbeat": meta.get("heartbeat")}
    return judged if writer_alive(judged) else None


def _refuse(run_dir: Path, meta: dict[str, Any], holder: dict[str, Any]) -> RunLockedError:
    pid = holder.get("pid")
    who = "this process" if pid == os.getpid() else "another process"
    return RunLockedError(
        f"run {meta.get('id')} at {run_dir} is being written by pid {pid} "
        f"on host {holder.get('host')} ({who}); one writer per run"
    )


def writer_identity() -> dict[str, Any]:
    """This process as a run's owner: what :func:`claim`'s ``owner`` takes."""
    return {"pid": os.getpid(), "host": hostname(), "pid_start": _own_start_time()}


def new_run_id() -> str:
    """A fresh run id: 12 hex digits (48 random bits)."""
    return os.urandom(6).hex()


def _new_meta(
    run_dir: Path, experiment: str, name: str | None, config: dict[str, Any], tags: dict[str, str]
) -> dict[str, Any]:
    now = time.time()
    return {
        "format": FORMAT_VERSION,
        "id": new_run_id(),
        "experiment": experiment,
        "name": name or run_dir.name,
        "status": "running",
        "config": config,
        "params": {},
        "tags": tags,
        "summary": {},
        "metrics": {},
        "start_time": now,
        "end_time": None,
        "heartbeat": now,
        "host": hostname(),
        "pid": os.getpid(),
        "pid_start": _own_start_time(),
        "git": None,  # filled in by the writer's thread (``git status`` can take a while)
        "resumed": [],
    }


def _take_over(
    run_dir: Path, fresh: dict[str, Any], config: dict[str, Any], tags: dict[str, str]
) -> Claimed:
    meta_dir = run_dir / META_DIR
    old = read_meta(run_dir)
    number = _current_claim(meta_dir)
    holder = _holder(meta_dir, number, old)
    if holder is not None:
        raise _refuse(run_dir, old, holder)
    try:
        fd = os.open(_claim_file(meta_dir, number + 1), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another process won the same claim an instant before us
        winner = _holder(meta_dir, number + 1, old) or old
        raise _refuse(run_dir, old, winner) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(_owner(fresh)))
    for stale in range(max(1, number - 1), number + 1):  # keep the directory small
        for prefix in ("claim", "released"):
            with contextlib.suppress(OSError):
                (meta_dir / f"{prefix}.{stale}").unlink()
    old = read_meta(run_dir)  # as the previous writer left it, now that nobody else writes
    restored = _restore(run_dir / META_DIR / DATA_FILE)
    meta = dict(old)
    meta["resumed"] = [
        *old.get("resumed", []),
        {"time": fresh["start_time"], "pid": fresh["pid"]},
    ]
    for key in ("status", "heartbeat", "host", "pid", "pid_start", "git"):
        meta[key] = fresh[key]
    meta["end_time"] = None
    if config:
        meta["config"] = {**old.get("config", {}), **config}
    meta["tags"] = {**old.get("tags", {}), **tags}
    meta.setdefault("summary", {})
    meta.setdefault("params", {})
    meta.pop("error", None)  # the new writer's ending decides
    write_json_atomic(run_dir / META_DIR / META_FILE, meta)
    return Claimed(meta, restored, number + 1)


def _restore(path: Path) -> Restored:
    """Drop a torn tail left by a killed writer; read back tag ids, auto-steps and stats.

    Only a verified torn tail is truncated. Damaged bytes stay where they are (readers skip and
    report them); the resumed writer appends after them. A record that verifies but does not
    parse (crafted, or from a buggy writer) is left out here as it is by readers.
    """
    restored = Restored()
    if not path.exists():
        return restored
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        walked = rec.walk_file(fh, 0, size)
        for problem in walked.problems:
            log.warning("%s: %s; kept as it is, resuming after it", path, problem)
        if walked.torn:
            log.warning(
                "%s: dropping a torn last record (%d bytes) left by a writer that was killed",
                path,
                size - walked.end,
            )
            fh.truncate(walked.end)
        names = restored.tag_names
        for record in walked.records:
            for tag_id, tag in _parsed(rec.parse_tags, record):
                names.extend([None] * (tag_id + 1 - len(names)))
                names[tag_id] = tag
        for record in walked.records:
            for ref in record.blocks:  # a block failing its checksum is left out
                restored.max_tag_id = max(restored.max_tag_id, ref.tag_id)
                fh.seek(ref.offset)
                block = rec.decode_block(ref, fh.read(ref.length))
                tag = names[block.tag_id] if block and block.tag_id < len(names) else None
                if block is not None and tag is not None and ref.count:
                    update_stats(restored.stats, tag, block.steps, block.values)
                    restored.next_steps[tag] = int(block.steps[-1]) + 1
    for record in walked.records:
        for tag, step in _parsed(rec.parse_text_steps, record):
            restored.text_steps[tag] = step + 1
        for kind, tag, step in _parsed(rec.parse_media_step, record):
            restored.media_steps[(kind, tag)] = step + 1
    return restored


def _parsed(parse: Any, record: rec.RawRecord) -> list[Any]:
    try:
        return list(parse(record))
    except rec.BadRecord as exc:
        log.warning("a record at byte %d is left out: %s", record.offset, exc)
        return []


_OWN_START: dict[int, float | None] = {}


def _own_start_time() -> float | None:
    """This process's start time, read once per process (forks get their own)."""
    pid = os.getpid()
    if pid not in _OWN_START:
        _OWN_START[pid] = process_start_time(pid)
    return _OWN_START[pid]
