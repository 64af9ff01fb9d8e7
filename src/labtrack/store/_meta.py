"""A run's metadata file: where it lives, how it is replaced, and how liveness is judged.

``.labtrack/meta.json`` is the marker that makes a directory a run. It is only ever replaced
whole (write a temporary file beside it, then ``os.replace``), so a reader sees the old or the new
version, never half of one. This works on NFS too: no file locks anywhere.

A run whose metadata says ``running`` is reported as ``crashed`` when its writer is gone: on the
same host, the recorded pid no longer exists (or was reused by a process started later); on
another host, the heartbeat the writer refreshes is older than :data:`STALE_AFTER` seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from ..errors import UnreadableRunError

FORMAT_VERSION = 1
META_DIR = ".labtrack"
META_FILE = "meta.json"
DATA_FILE = "data.ltr"
MEDIA_DIR = "media"
ARTIFACTS_DIR = "artifacts"

STATUSES = ("running", "completed", "failed", "killed")
FINAL_STATUSES = ("completed", "failed", "killed")
#: Seconds after which a heartbeat from another host counts as dead.
STALE_AFTER = 120.0
#: Seconds between heartbeat refreshes by a live writer.
HEARTBEAT_EVERY = 10.0


def meta_path(run_dir: Path) -> Path:
    return run_dir / META_DIR / META_FILE


def is_run_dir(path: Path) -> bool:
    """A run directory is recognised by its ``.labtrack/`` folder (even with corrupt metadata)."""
    return (path / META_DIR).is_dir()


def write_json_atomic(path: Path, obj: Any, *, fsync: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(obj, indent=1, allow_nan=True, default=str).encode()
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_meta(run_dir: Path) -> dict[str, Any]:
    path = meta_path(run_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise UnreadableRunError(f"{path}: missing run metadata") from exc
    except OSError as exc:
        raise UnreadableRunError(f"{path}: cannot read run metadata: {exc}") from exc
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise UnreadableRunError(f"{path}: corrupt run metadata: {exc}") from exc
    if not isinstance(meta, dict) or "id" not in meta:
        raise UnreadableRunError(f"{path}: not labtrack run metadata (no 'id')")
    version = meta.get("format", 1)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise UnreadableRunError(
            f"{path}: written by a newer labtrack (run format {version}, this one reads "
            f"up to {FORMAT_VERSION}); upgrade labtrack to read it"
        )
    return meta


def hostname() -> str:
    return socket.gethostname()


def process_start_time(pid: int) -> float | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to detect pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[-1].split()
    try:
        return float(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def writer_alive(meta: dict[str, Any], now: float | None = None) -> bool:
    """Whether the process that owns a ``running`` run is still there."""
    if meta.get("host") == hostname():
        pid = meta.get("pid")
        if not isinstance(pid, int) or not pid_alive(pid):
            return False
        started = meta.get("pid_start")
        if started is not None:
            current = process_start_time(pid)
            if current is not None and current != started:
                return False  # the pid now belongs to another process
        return True
    heartbeat = meta.get("heartbeat") or meta.get("start_time") or 0.0
    return (now or time.time()) - float(heartbeat) < STALE_AFTER


def wait_for_writer(run_dir: Path, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until nobody writes ``run_dir``; True when free.

    For taking over the run of a worker known to have died: its process may take a moment to
    disappear after the failure was reported (a Ray worker, a killed child).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            meta = read_meta(run_dir)
        except UnreadableRunError:
            return True
        if meta.get("status") != "running" or not writer_alive(meta):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def effective_status(meta: dict[str, Any]) -> str:
    status = str(meta.get("status", "running"))
    if status == "running" and not writer_alive(meta):
        return "crashed"
    return status


def git_info(cwd: Path) -> dict[str, Any] | None:
    """Commit, branch and dirtiness of the git checkout around ``cwd``, if there is one.

    Asked once per process and directory (two ``git`` calls cost milliseconds, which a sweep
    of thousands of short runs would pay each time).
    """
    key = str(cwd)
    if key not in _GIT_CACHE:
        _GIT_CACHE[key] = _ask_git(cwd)
    cached = _GIT_CACHE[key]
    return dict(cached) if cached is not None else None


_GIT_CACHE: dict[str, dict[str, Any] | None] = {}


def _ask_git(cwd: Path) -> dict[str, Any] | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if out.returncode != 0:
            return None
        commit, branch = [*out.stdout.split(), "", ""][:2]
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return {"commit": commit, "branch": branch, "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None
