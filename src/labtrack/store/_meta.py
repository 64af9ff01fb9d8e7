"""A run's metadata file: where it lives, how it is replaced, and how liveness is judged.

``.labtrack/meta.json`` is the marker that makes a directory a run. It is only ever replaced
whole (write a temporary file beside it, then ``os.replace``), so a reader sees the old or the new
version, never half of one. This works on NFS too: no file locks anywhere.

A run whose metadata says ``running`` is reported as ``crashed`` when its writer is gone: on the
same host, the recorded pid no longer exists (or was reused by a process started later); on
another host, the heartbeat the writer refreshes is older than :data:`STALE_AFTER` seconds.
A pid that is a zombie (killed, not yet reaped by its parent) counts as gone.

Metadata cannot lie:

- **A checksum.** :func:`write_json_atomic` writes a JSON object as
  ``{"checksum":"crc32:0a1b2c3d",`` followed by the rest of the document, and the CRC-32 covers
  every byte after that 29-byte prefix. The file stays plain JSON (``json.load``, ``jq``), and a
  reader verifies it without serialising anything again: one ``zlib.crc32`` over bytes it has
  read anyway. A mismatch (also a damaged prefix) makes the run unreadable, so a flipped bit is
  never shown as status ``"cnmpleted"``. A file without the prefix (written by an older
  labtrack, or by hand) is read unverified; an edited copy (``jq`` output) loses the prefix and
  is read as hand-written.
- **A schema.** :data:`SCHEMA` gives the allowed JSON types of every field readers use.
  :func:`read_meta` checks it and names the field and what it holds, so wrong-typed metadata
  makes one run ``unreadable`` instead of breaking every query over the store. Unknown fields
  are kept as they are (a newer writer may add some).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Mapping
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
    """Replace ``path`` with ``obj`` as JSON (checksummed when it is an object), atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = encode_json(obj)
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


CHECKSUM_KEY = "checksum"
_CHECKSUM_HEAD = b'{"checksum":"crc32:'
_CHECKSUM_TAIL = b'",'
_HEX_END = len(_CHECKSUM_HEAD) + 8
#: Bytes before the checksummed part of a file written by :func:`encode_json`.
CHECKSUM_PREFIX = len(_CHECKSUM_HEAD) + 8 + len(_CHECKSUM_TAIL)


def encode_json(obj: Any) -> bytes:
    """``obj`` as the bytes :func:`write_json_atomic` writes: indented JSON, NaN allowed, and for
    a non-empty object the checksum prefix described in the module docstring.

    A ``checksum`` member of ``obj`` itself is dropped (it is the one this function writes).
    """
    if isinstance(obj, Mapping) and CHECKSUM_KEY in obj:
        obj = {k: v for k, v in obj.items() if k != CHECKSUM_KEY}
    body = json.dumps(obj, indent=1, allow_nan=True, default=str).encode()
    if not isinstance(obj, Mapping) or not obj:
        return body
    rest = body[1:]  # everything after the opening brace
    return b"%s%08x%s%s" % (_CHECKSUM_HEAD, zlib.crc32(rest), _CHECKSUM_TAIL, rest)


def decode_json(raw: bytes, source: object) -> Any:
    """The document in ``raw`` (bytes of a file named ``source``), its checksum verified.

    Raises :class:`UnreadableRunError` ``"<source>: checksum mismatch ..."`` when the checksum
    (or the prefix that holds it) is damaged, ``"<source>: corrupt run metadata ..."`` when the
    bytes are not JSON. A document without a checksum is returned unverified. The ``checksum``
    member is removed from the object returned.
    """
    if raw.startswith(_CHECKSUM_HEAD) and raw[_HEX_END:CHECKSUM_PREFIX] == _CHECKSUM_TAIL:
        try:
            want = int(raw[len(_CHECKSUM_HEAD) : _HEX_END], 16)
        except ValueError:
            want = -1
        got = zlib.crc32(memoryview(raw)[CHECKSUM_PREFIX:])
        if got != want:
            raise UnreadableRunError(
                f"{source}: checksum mismatch (file says "
                f"{raw[len(_CHECKSUM_HEAD) : _HEX_END].decode(errors='replace')}, "
                f"content has {got:08x}): the run metadata is damaged"
            )
    elif _damaged_prefix(raw):
        raise UnreadableRunError(
            f"{source}: checksum mismatch (the checksum prefix itself is damaged): "
            "the run metadata is damaged"
        )
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise UnreadableRunError(f"{source}: corrupt run metadata: {exc}") from exc
    if isinstance(doc, dict):
        doc.pop(CHECKSUM_KEY, None)
    return doc


_PREFIX_BITS = int.from_bytes(_CHECKSUM_HEAD + _CHECKSUM_TAIL, "big")


def _damaged_prefix(raw: bytes) -> bool:
    """A prefix a few flipped bits away from the checksum prefix: damage, not a file that never
    had one (those start ``{\n "``, dozens of bits away from ``{"checksum":"crc32:``)."""
    if len(raw) < CHECKSUM_PREFIX or raw[1:2] == b"\n":
        # Too short, or the indented JSON older writers wrote: the common case, decided fast.
        # (A damaged prefix starting so is not valid JSON either: it is reported as corrupt.)
        return False
    have = int.from_bytes(raw[: len(_CHECKSUM_HEAD)] + raw[_HEX_END:CHECKSUM_PREFIX], "big")
    return (have ^ _PREFIX_BITS).bit_count() <= 4


def read_meta(run_dir: Path) -> dict[str, Any]:
    """A run's metadata, checked: checksum, format version and the type of every field.

    Raises :class:`UnreadableRunError` naming the file and what is wrong with it.
    """
    # Plain strings and open(): this runs once per run in a query over thousands of runs.
    path = os.path.join(run_dir, META_DIR, META_FILE)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError as exc:
        raise UnreadableRunError(f"{path}: missing run metadata") from exc
    except OSError as exc:
        raise UnreadableRunError(f"{path}: cannot read run metadata: {exc}") from exc
    meta = decode_json(raw, path)
    if not isinstance(meta, dict) or "id" not in meta:
        raise UnreadableRunError(f"{path}: not labtrack run metadata (no 'id')")
    version = meta.get("format", 1)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise UnreadableRunError(
            f"{path}: written by a newer labtrack (run format {version}, this one reads "
            f"up to {FORMAT_VERSION}); upgrade labtrack to read it"
        )
    problem = schema_problem(meta)
    if problem is not None:
        raise UnreadableRunError(f"{path}: wrong-typed run metadata: {problem}")
    return meta


# ---------------------------------------------------------------------------- schema


def _plain(spec: Spec) -> frozenset[type]:
    """The exact types a value of ``spec`` may have without looking inside it."""
    return frozenset(
        type(None) if alt is None else alt for alt in spec if not isinstance(alt, Fields | Each)
    )


class Fields:
    """An object that has every named member, with the given types; other members unchecked."""

    __slots__ = ("_shapes", "members")

    def __init__(self, members: Mapping[str, Spec]) -> None:
        self.members = members
        # (member names, member types) of objects seen to be good: most objects of a kind
        # share one shape, so checking one costs a tuple and a set lookup (a cache, bounded).
        self._shapes: set[tuple[tuple[str, ...], tuple[type, ...]]] = set()

    def __repr__(self) -> str:
        return f"Fields({self.members!r})"


class Each:
    """An object every value of which has the given types (keys are strings in JSON)."""

    __slots__ = ("plain", "values")

    def __init__(self, values: Spec) -> None:
        self.values = values
        #: The plain types among ``values``: a value of one of those needs no closer look.
        self.plain = _plain(values)

    def __repr__(self) -> str:
        return f"Each({self.values!r})"


#: Allowed alternatives for one value: exact JSON types (``bool`` is not a number here, as in
#: JSON), ``None`` for null, or a nested :class:`Fields` / :class:`Each` object.
Spec = tuple[type | Fields | Each | None, ...]

_NUMBER: Spec = (int, float)
_OPTIONAL_NUMBER: Spec = (int, float, None)
_METRIC = Fields({"last": _NUMBER, "min": _NUMBER, "max": _NUMBER, "count": (int,), "step": (int,)})
_ERROR = Fields({"type": (str,), "message": (str,), "traceback": (str,)})

#: Field -> allowed types, for every metadata field a reader uses. Absent fields are allowed
#: (readers have defaults); ``status`` must also be one of :data:`STATUSES`.
SCHEMA: dict[str, Spec] = {
    "format": (int,),
    "id": (str,),
    "experiment": (str,),
    "name": (str,),
    "status": (str,),
    "config": (dict,),
    "params": (dict,),
    "tags": (Each((str,)),),
    "summary": (dict,),
    "metrics": (Each((_METRIC,)),),
    "start_time": _OPTIONAL_NUMBER,
    "end_time": _OPTIONAL_NUMBER,
    "heartbeat": _OPTIONAL_NUMBER,
    "host": (str, None),
    "pid": (int, None),
    "pid_start": _OPTIONAL_NUMBER,
    "git": (dict, None),
    "resumed": (list,),
    "error": (_ERROR, None),
    "data_size": (int, None),
    "lost": (dict, None),
}


_PLAIN = {key: _plain(spec) for key, spec in SCHEMA.items()}
_MAX_SHAPES = 256
_NO_SHAPES: frozenset[tuple[tuple[str, ...], tuple[type, ...]]] = frozenset()


def schema_problem(meta: Mapping[str, Any]) -> str | None:
    """What is wrong with the types in ``meta`` (the first problem), or None when nothing is."""
    plain = _PLAIN
    for key, value in meta.items():
        allowed = plain.get(key)
        if allowed is None or type(value) in allowed:
            continue  # an unknown field, or a plain value of an allowed type
        problem = _problem(value, SCHEMA[key], key)
        if problem is not None:
            return problem
    status = meta.get("status", "running")
    if status not in STATUSES:
        return f"field 'status' holds {_show(status)}, expected one of {', '.join(STATUSES)}"
    return None


def _problem(value: Any, spec: Spec, where: str) -> str | None:
    kind = type(value)
    for alt in spec:
        if alt is kind or (alt is None and value is None):
            return None
        if kind is dict and isinstance(alt, Fields):
            return _fields_problem(value, alt, where)
        if kind is dict and isinstance(alt, Each):
            allowed = alt.plain
            first = alt.values[0]
            shapes = first._shapes if isinstance(first, Fields) else _NO_SHAPES
            for key, item in value.items():
                if type(item) in allowed or (
                    type(item) is dict and (tuple(item), tuple(map(type, item.values()))) in shapes
                ):
                    continue  # the common case, inline: a plain value, or an object seen before
                problem = _problem(item, alt.values, f"{where}.{key}")
                if problem is not None:
                    return problem
            return None
    return f"field {where!r} holds {_show(value)}, expected {_describe(spec)}"


def _fields_problem(value: dict[str, Any], spec: Fields, where: str) -> str | None:
    shape = (tuple(value), tuple(map(type, value.values())))
    if shape in spec._shapes:
        return None
    for key, sub in spec.members.items():
        if key not in value:
            return f"field {where!r} has no {key!r}"
        problem = _problem(value[key], sub, f"{where}.{key}")
        if problem is not None:
            return problem
    if all(not isinstance(v, dict | list) for v in value.values()):
        if len(spec._shapes) >= _MAX_SHAPES:
            spec._shapes.clear()
        spec._shapes.add(shape)  # its types alone make an object of this shape good
    return None


_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def _describe(spec: Spec) -> str:
    words = []
    for alt in spec:
        if alt is int and float in spec:
            continue  # "a number" says it
        if alt is None:
            words.append("null")
        elif isinstance(alt, Fields):
            words.append("an object")
        elif isinstance(alt, Each):
            words.append(f"an object whose values are each {_describe(alt.values)}")
        else:
            words.append(_NAMES.get(alt, alt.__name__))
    return " or ".join(words)


def _show(value: Any) -> str:
    """A value as it looks in the file, shortened, with its JSON type."""
    try:
        text = json.dumps(value, allow_nan=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = "null" if value is None else _NAMES.get(type(value), type(value).__name__)
    return f"{text} ({kind})"


def hostname() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it (without importing socket)."""
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().nodename)
    import socket

    return socket.gethostname()


def _proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (Linux), None without it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[-1].split()


def process_start_time(pid: int) -> float | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to detect pid reuse."""
    fields = _proc_stat(pid)
    try:
        return float(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


#: Process states of a pid that is gone but not yet reaped: zombie, dead.
_GONE_STATES = (b"Z", b"X")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process. A zombie (exited or killed, not yet reaped by its
    parent) is not: it will never write again."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    fields = _proc_stat(pid)
    return not (fields and fields[0] in _GONE_STATES)


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


def cached_git_info(cwd: Path) -> dict[str, Any] | bool | None:
    """What :func:`git_info` gave for ``cwd`` in this process, or False when not asked yet."""
    cached = _GIT_CACHE.get(str(cwd), False)
    return dict(cached) if isinstance(cached, dict) else cached


_GIT_CACHE: dict[str, dict[str, Any] | None] = {}


def _ask_git(cwd: Path) -> dict[str, Any] | None:
    import subprocess

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
