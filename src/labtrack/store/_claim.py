"""Becoming the one writer of a run directory: creating it, or taking over one whose writer is gone.

A new run's ``.labtrack/`` folder is built under a temporary name and renamed into place, so a
reader never sees a marker without metadata, and two processes creating the same directory
cannot both win (renaming onto a non-empty folder fails, also on NFS). An existing run is taken
over only when its metadata says it is finished or its writer is dead; a live writer makes the
claim fail with :class:`~labtrack.errors.RunLockedError` naming its pid and host. Taking over
drops a torn tail left by a killed writer and restores what logging continues from.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RunLockedError
from . import _records as rec
from ._meta import (
    DATA_FILE,
    FORMAT_VERSION,
    META_DIR,
    META_FILE,
    git_info,
    hostname,
    process_start_time,
    read_meta,
    write_json_atomic,
    writer_alive,
)
from ._summary import TagStats, update_stats

log = logging.getLogger("labtrack")


@dataclass
class Restored:
    """What a resumed run continues from: tag ids, next auto-steps and statistics."""

    tag_names: list[str] = field(default_factory=list)
    next_steps: dict[str, int] = field(default_factory=dict)
    stats: TagStats = field(default_factory=dict)
    text_steps: dict[str, int] = field(default_factory=dict)
    media_steps: dict[tuple[str, str], int] = field(default_factory=dict)


def claim(
    run_dir: Path, experiment: str, name: str | None, config: dict[str, Any], tags: dict[str, str]
) -> tuple[dict[str, Any], Restored]:
    """The run's metadata (as written) and what to continue from (empty for a new run)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = _new_meta(run_dir, experiment, name, config, tags)
    meta_dir = run_dir / META_DIR
    if not (meta_dir / META_FILE).exists():
        staging = run_dir / f"{META_DIR}-new-{os.getpid()}-{meta['id']}"
        staging.mkdir()
        (staging / META_FILE).write_text(json.dumps(meta, indent=1, allow_nan=True))
        try:
            os.rename(staging, meta_dir)
            return meta, Restored()
        except OSError:  # someone else made it first: take over (or refuse) below
            shutil.rmtree(staging, ignore_errors=True)
    return _take_over(run_dir, meta, config, tags)


def _new_meta(
    run_dir: Path, experiment: str, name: str | None, config: dict[str, Any], tags: dict[str, str]
) -> dict[str, Any]:
    now = time.time()
    return {
        "format": FORMAT_VERSION,
        "id": uuid.uuid4().hex[:12],
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
        "git": git_info(Path.cwd()),
        "resumed": [],
    }


def _take_over(
    run_dir: Path, fresh: dict[str, Any], config: dict[str, Any], tags: dict[str, str]
) -> tuple[dict[str, Any], Restored]:
    old = read_meta(run_dir)
    if old.get("status") == "running" and writer_alive(old):
        who = "this process" if old.get("pid") == os.getpid() else "another process"
        raise RunLockedError(
            f"run {old.get('id')} at {run_dir} is being written by pid {old.get('pid')} "
            f"on host {old.get('host')} ({who}); one writer per run"
        )
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
    write_json_atomic(run_dir / META_DIR / META_FILE, meta)
    return meta, restored


def _restore(path: Path) -> Restored:
    """Drop a torn tail left by a killed writer; read back tag ids, auto-steps and stats."""
    restored = Restored()
    if not path.exists():
        return restored
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        walked = rec.walk_file(fh, 0, size)
        if walked.end < size:
            log.warning(
                "%s: dropping %d bytes after the last good record (%s)",
                path,
                size - walked.end,
                walked.problem,
            )
            fh.truncate(walked.end)
        names = restored.tag_names
        for table in rec.iter_json(walked.records, rec.KIND_TAGS):
            for tag_id, tag in table:
                names.extend([""] * (tag_id + 1 - len(names)))
                names[tag_id] = tag
        for record in walked.records:
            for ref in record.blocks:  # a block failing its checksum is left out
                fh.seek(ref.offset)
                block = rec.decode_block(ref, fh.read(ref.length))
                if block is not None:
                    tag = names[block.tag_id]
                    update_stats(restored.stats, tag, block.steps, block.values)
                    restored.next_steps[tag] = int(block.steps[-1]) + 1
    for record in walked.records:
        if record.kind == rec.KIND_TEXT:
            for tag, step, _wall, _text in json.loads(bytes(record.payload)):
                restored.text_steps[tag] = int(step) + 1
        elif record.kind == rec.KIND_MEDIA:
            item = json.loads(bytes(record.payload))
            restored.media_steps[(item["kind"], item["tag"])] = int(item["step"]) + 1
    return restored


_OWN_START: dict[int, float | None] = {}


def _own_start_time() -> float | None:
    """This process's start time, read once per process (forks get their own)."""
    pid = os.getpid()
    if pid not in _OWN_START:
        _OWN_START[pid] = process_start_time(pid)
    return _OWN_START[pid]
