"""W&B offline runs (``wandb/offline-run-*``) -> labtrack runs.

A run's records are in its ``run-<id>.wandb`` file: W&B's ``Record`` protos in LevelDB's log
framing (a 7-byte ``:W&B`` header, 32 KiB blocks, each chunk with a CRC-32 seeded by its chunk
type). W&B's own reader, ``wandb.sdk.internal.datastore.DataStore``, is used when the installed
``wandb`` has it; ``wandb`` 0.2x and later write the file from their Go core and ship no Python
reader, so this module then reads the same framing itself (``_scan``, 40 lines) and parses each
record with ``wandb.proto.wandb_internal_pb2``: the protos are W&B's either way.

Carried: history (every numeric key at its ``_step``, with ``_timestamp`` as the wall time),
config (``_wandb`` bookkeeping left out), the final summary (numbers, strings, booleans), image
media (``files/media/images/...``, at their step), string history values as text, the run's
W&B tags, group, job type and notes, and its exit code (0: ``completed``, else ``failed``; no
exit record, a run that died or still runs: ``killed``, tag ``wandb.exit`` says which).
Counted in ``skipped``: histograms, tables and other media types (by ``_type``), system metrics,
console output records, and W&B artifacts.
"""

from __future__ import annotations

import importlib
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import require
from ._base import ImportReport, ImportSourceError, SourceRun
from ._write import import_all, safe_experiment, store_dir

_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
_BLOCK = 32768
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_COUNTED = {
    "stats": "system metrics",
    "output": "console output",
    "output_raw": "console output",
    "artifact": "W&B artifacts",
    "use_artifact": "W&B artifacts",
    "tbrecord": "TensorBoard links",
    "alert": "alerts",
}


class CorruptRunFileError(ImportSourceError):
    """A ``.wandb`` file that cannot be read past some point (not a torn last record)."""


def wandb(
    directory: str | Path,
    into: str | Path | None = None,
    *,
    experiment: str | None = None,
    progress_bar: bool | None = None,
) -> ImportReport:
    """Import W&B offline runs: every ``offline-run-*`` (or ``run-*``) folder under ``directory``.

    >>> report = labtrack.importers.wandb("wandb", into="out")   # doctest: +SKIP

    Args:
        directory: a ``wandb/`` folder, a folder above one, or one run's folder.
        into: the store directory (default ``$LABTRACK_DIR`` or ``./out``).
        experiment: the labtrack experiment (default: each run's W&B project).
        progress_bar: show a progress bar (default: when stderr is a terminal).

    Raises:
        ImportSourceError: ``directory`` is not a folder.
        MissingExtraError: ``wandb`` is not installed.
    """
    require("wandb.proto.wandb_internal_pb2", "wandb", "importing W&B offline runs")
    root = Path(directory).absolute()
    if not root.is_dir():
        raise ImportSourceError(f"W&B directory {directory} is not a folder")
    runs = sorted(run_files(root).items())

    def read(item: tuple[str, list[Path]]) -> SourceRun:
        return read_run(item[1], experiment=experiment)

    def describe(item: tuple[str, list[Path]]) -> tuple[str, str]:
        return str(item[1][0].parent), item[0]

    return import_all(runs, read, describe, store_dir(into), f"importing {root}", progress_bar)


def run_files(root: Path) -> dict[str, list[Path]]:
    """The ``run-<id>.wandb`` files under ``root`` by run id, oldest first: a run resumed
    offline (``resume=...``) has one folder per session, named by its start time."""
    found: dict[str, list[Path]] = {}
    for path in root.rglob("run-*.wandb"):
        if path.is_file() and path.parent.name.startswith(("offline-run-", "run-")):
            found.setdefault(path.stem[len("run-") :], []).append(path)
    return {run_id: sorted(paths, key=lambda p: p.parent.name) for run_id, paths in found.items()}


def records(path: Path) -> Iterator[bytes]:
    """The serialized records of a ``.wandb`` file, by W&B's reader when it ships one."""
    try:
        datastore: Any = importlib.import_module("wandb.sdk.internal.datastore")
    except ImportError:
        yield from _scan(path)
        return
    store = datastore.DataStore()
    store.open_for_scan(str(path))
    while True:
        data = store.scan_data()
        if data is None:
            return
        yield data


def _scan(path: Path) -> Iterator[bytes]:
    """LevelDB log framing, as W&B writes it (see the module docstring)."""
    data = path.read_bytes()
    if not data.startswith(_HEADER):
        raise CorruptRunFileError(f"{path} is not a W&B run file (no :W&B header)")
    pos, pending = len(_HEADER), b""
    while pos + _CHUNK_HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK_HEADER:  # the rest of a block too small for a header is padding
            pos += room
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        start, pos = pos + _CHUNK_HEADER, pos + _CHUNK_HEADER + length
        if kind == 0 and length == 0:  # zero padding left by a writer
            continue
        if pos > len(data):
            return  # a torn last record: a writer still writing, or killed
        chunk = data[start:pos]
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise CorruptRunFileError(f"corrupt W&B run file {path}: CRC mismatch at byte {start}")
        if kind in (_FULL, _FIRST):
            pending = chunk
        elif kind in (_MIDDLE, _LAST):
            pending += chunk
        else:
            raise CorruptRunFileError(f"corrupt W&B run file {path}: chunk type {kind}")
        if kind in (_FULL, _LAST):
            yield pending
            pending = b""


def read_run(paths: list[Path], *, experiment: str | None = None) -> SourceRun:
    """Read one offline run's records (all its sessions, in order) into a :class:`SourceRun`."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    pb: Any = importlib.import_module("wandb.proto.wandb_internal_pb2")

    first = paths[0].parent
    src = SourceRun(key=str(first), kind="wandb", experiment="wandb", name=first.name)
    summary: dict[str, Any] = {}
    exit_code: int | None = None
    for path, record in ((p, r) for p in paths for r in records(p)):
        try:
            rec = pb.Record.FromString(record)
        except DecodeError:
            raise CorruptRunFileError(f"corrupt W&B run file {path}: a bad record") from None
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            _take_run(src, rec.run, experiment)
            exit_code = None  # a resumed session: only its own exit counts
        elif kind == "config":
            _update(src.config, rec.config.update, skip_private=True)
        elif kind == "history":
            _take_history(src, path.parent / "files", _nested(rec.history.item))
        elif kind == "summary":
            _update(summary, rec.summary.update, skip_private=True)
        elif kind == "exit":
            exit_code = int(rec.exit.exit_code)
        elif kind in _COUNTED:
            src.skip(_COUNTED[kind])
    src.summary = {
        k: v
        for k, v in summary.items()
        if isinstance(v, int | float | str | bool) and v is not None
    }
    if exit_code is None:
        src.status, src.tags["wandb.exit"] = "killed", "no exit record"
    else:
        src.status = "completed" if exit_code == 0 else "failed"
        src.tags["wandb.exit"] = str(exit_code)
    return src


def _take_run(src: SourceRun, run: Any, experiment: str | None) -> None:
    src.key = f"wandb:{run.project}/{run.run_id}" if run.project else f"wandb:{run.run_id}"
    src.experiment = experiment or safe_experiment(run.project, "wandb")
    src.name = run.display_name or run.run_id
    _update(src.config, run.config.update, skip_private=True)
    src.tags.update({"wandb.run_id": run.run_id, "wandb.project": run.project})
    for tag in run.tags:
        src.tags[tag] = ""
    for field in ("group", "job_type", "notes", "entity"):
        value = getattr(run, field, "")
        if value:
            src.tags[f"wandb.{field}"] = str(value).replace("\n", " ")
    if run.HasField("start_time"):
        src.tags["wandb.start_time"] = str(run.start_time.ToNanoseconds() / 1e9)
        src.start_time = run.start_time.ToNanoseconds() / 1e9


def _path(item: Any) -> list[str]:
    return list(item.nested_key) if item.nested_key else [item.key]


def _update(into: dict[str, Any], items: Any, *, skip_private: bool) -> None:
    """Apply W&B's ``{key | nested_key, value_json}`` updates to a nested mapping."""
    for item in items:
        keys = _path(item)
        if skip_private and keys[0] in ("_wandb", "_runtime", "_step", "_timestamp"):
            continue
        target = into
        for key in keys[:-1]:
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            target = child
        target[keys[-1]] = json.loads(item.value_json)


def _nested(items: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    _update(row, items, skip_private=False)
    return row


def _take_history(src: SourceRun, files: Path, row: dict[str, Any]) -> None:
    step = int(row.pop("_step", 0))
    wall = float(row.pop("_timestamp", 0.0))
    row.pop("_runtime", None)
    for key, value in _flat(row):
        if isinstance(value, bool | int | float):
            src.series(key).add(step, float(value), wall)
        elif isinstance(value, str):
            src.text.setdefault(key, []).append((step, wall, value))
        elif isinstance(value, dict) and value.get("_type") == "image-file":
            image = files / str(value.get("path", ""))
            if image.is_file():
                src.images.setdefault(key, []).append((step, wall, image.read_bytes()))
            else:
                src.skip("images missing from files/")
        elif isinstance(value, dict) and value.get("_type") == "histogram":
            src.skip("histograms")
        elif isinstance(value, dict) and "_type" in value:
            src.skip(f"{value['_type']} values")
        elif value is not None:
            src.skip("other history values")


def _flat(row: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of a history row, nested keys joined by ``/``; media dicts are leaves."""
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "_type" not in value:
            yield from _flat(value, f"{name}/")
        else:
            yield name, value
