"""Checkpoint and buffer files: atomic writes, a versioned checksummed format, resume search.

A file is ``MAGIC | version (u16) | payload length (u64) | sha256(payload) | payload``, the
payload a cloudpickle of a plain dict. Every write goes to a temporary file in the same folder,
is fsynced, then renamed over the target (and the folder fsynced), so a kill at any moment leaves
either the old file or the new one, never a torn one. Step-numbered checkpoints are written once;
``latest`` and ``best`` are hard links to them (renamed into place), so a save writes its bytes
once.

Torch is never imported here: if ``torch`` is not in ``sys.modules`` (or another thread is still
importing it) no tensor can exist, and when it is, tensors are detached and moved to the CPU
before pickling.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import SerializationError
from .config import PersistenceConfig, TrackerConfig
from .schemas import BufferData, CheckpointData

log = logging.getLogger(__name__)

MAGIC = b"LABTRACK-STATE\n"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<HQ32s")
_STEP_FILE = re.compile(r"^checkpoint_step_(\d+)\.pkl$")
_BUFFER_STEP_FILE = re.compile(r"^buffer_step_(\d+)\.pkl$")


def atomic_write(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in [data] if isinstance(data, bytes) else data:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _link_into_place(source: Path, target: Path) -> None:
    """Make ``target`` the same file as ``source`` atomically (copy if links are refused)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.link.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        atomic_write(target, source.read_bytes())
        return
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def to_cpu(obj: Any) -> Any:
    """``obj`` with every torch tensor detached and moved to the CPU (containers rebuilt)."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        # Not imported, or still being imported by another thread (a mirror's, as MLflow
        # imports it): either way no tensor exists yet.
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        items = [(k, to_cpu(v)) for k, v in obj.items()]
        try:
            return type(obj)(items)  # keeps OrderedDict, as torch state dicts are
        except TypeError:
            return dict(items)
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(to_cpu(v) for v in obj)
    return obj


def encode(kind: str, data: Mapping[str, Any]) -> bytes:
    """The bytes of a state file holding ``data``."""
    import cloudpickle

    try:
        payload = cloudpickle.dumps({"kind": kind, "data": dict(data)})
    except Exception as exc:
        raise SerializationError(f"cannot pickle the {kind}: {exc}") from exc
    header = _HEADER.pack(FORMAT_VERSION, len(payload), hashlib.sha256(payload).digest())
    return b"".join([MAGIC, header, payload])


def read_state_file(path: Path, kind: str) -> dict[str, Any]:
    """The dict stored in a state file; :class:`SerializationError` names the file and the fault."""
    import pickle

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SerializationError(f"cannot read {path}: {exc}") from exc
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + _HEADER.size:
        raise SerializationError(f"{path} is not a labtrack {kind} file (bad header)")
    version, length, digest = _HEADER.unpack_from(raw, len(MAGIC))
    if version > FORMAT_VERSION:
        raise SerializationError(
            f"{path} was written by a newer labtrack (format version {version}; this version "
            f"reads up to {FORMAT_VERSION}); upgrade labtrack to load it"
        )
    payload = raw[len(MAGIC) + _HEADER.size :]
    if len(payload) != length:
        raise SerializationError(f"{path} is truncated ({len(payload)} of {length} bytes)")
    if hashlib.sha256(payload).digest() != digest:
        raise SerializationError(f"{path} is corrupt (checksum mismatch)")
    try:
        obj = pickle.loads(payload)
    except Exception as exc:
        raise SerializationError(f"cannot unpickle {path}: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        found = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise SerializationError(f"{path} holds a {found!r}, not a {kind!r}")
    data = obj["data"]
    assert isinstance(data, dict)
    return data


class RunFiles:
    """Paths and file operations of one tracker run directory."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.p: PersistenceConfig = config.persistence
        self.run_dir = config.run_dir.resolve()
        self.checkpoints = self.run_dir / self.p.CHECKPOINT_SAVE_DIR_NAME
        self.buffers = self.run_dir / self.p.BUFFER_SAVE_DIR_NAME
        self.configs = self.run_dir / self.p.CONFIG_SAVE_DIR_NAME
        self.tensorboard = self.run_dir / self.p.TENSORBOARD_DIR_NAME
        self.runs_root = self.run_dir.parent
        self.state_file = self.run_dir / ".labtrack" / "tracker_state.json"
        #: Told of every file written, once it is complete (a run recorded through another
        #: node sends them there: ``Run.save_file``).
        self.on_written: Callable[[Path], None] | None = None
        # The text last written to each JSON file: an unchanged one is not written again (a
        # tracker saves its state every second and the configs with every checkpoint).
        self._json_written: dict[Path, str] = {}

    def _written(self, *paths: Path) -> None:
        if self.on_written is not None:
            for path in paths:
                self.on_written(path)

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files a killed save left behind."""
        for folder in (self.checkpoints, self.buffers, self.configs):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                with contextlib.suppress(OSError):
                    tmp.unlink()

    # --- writing -------------------------------------------------------------------------
    def save_checkpoint(self, ckpt: CheckpointData, *, is_best: bool) -> Path:
        """Write ``ckpt`` as step file + latest (+ best); prune old step files. Returns latest."""
        fields = {name: getattr(ckpt, name) for name in CheckpointData.model_fields}
        blob = encode("checkpoint", fields)
        latest = self.checkpoints / self.p.LATEST_CHECKPOINT_FILENAME
        if self.p.KEEP_LAST_N_CHECKPOINTS > 0:
            step_file = self.checkpoints / f"checkpoint_step_{ckpt.global_step}.pkl"
            atomic_write(step_file, blob)
            _link_into_place(step_file, latest)
            self._written(step_file, latest)
            self._prune()
        else:
            atomic_write(latest, blob)
            self._written(latest)
        if is_best:
            best = self.checkpoints / self.p.BEST_CHECKPOINT_FILENAME
            _link_into_place(latest, best)
            self._written(best)
        return latest

    def _prune(self) -> None:
        """Delete step files past ``KEEP_LAST_N_CHECKPOINTS``, and the buffers saved with them:
        a buffer is read back only with its own checkpoint (or as ``buffer.pkl``)."""
        keep = self.p.KEEP_LAST_N_CHECKPOINTS  # > 0 here
        checkpoints = _by_step(self.checkpoints, _STEP_FILE)
        if len(checkpoints) <= keep:
            return
        for _, path in checkpoints[keep:]:
            with contextlib.suppress(OSError):
                path.unlink()
        oldest_kept = checkpoints[keep - 1][0]
        for step, path in _by_step(self.buffers, _BUFFER_STEP_FILE):
            if step < oldest_kept:
                with contextlib.suppress(OSError):
                    path.unlink()

    def save_buffer(self, items: list[Any], step: int | None = None) -> Path:
        """Write the buffer atomically: ``buffer_step_<step>.pkl`` (as trieye) and
        ``buffer.pkl`` beside it, the file loading reads. Returns ``buffer.pkl``."""
        path = self.buffers / self.p.BUFFER_FILENAME
        blob = encode("buffer", {"buffer_list": items})
        if step is None:
            atomic_write(path, blob)
            self._written(path)
            return path
        step_file = self.buffers / f"buffer_step_{step}.pkl"
        atomic_write(step_file, blob)
        _link_into_place(step_file, path)
        self._written(step_file, path)
        return path

    def save_configs(self, configs: Mapping[str, Any]) -> Path:
        """Write the configs as JSON (values JSON cannot hold are written as their ``str``)."""
        path = self.configs / self.p.CONFIG_FILENAME
        self._save_json(path, json.dumps(configs, indent=2, sort_keys=True, default=str))
        return path

    def save_tracker_state(self, state: Mapping[str, Any]) -> None:
        """The tracker's step state, read back by a restarted tracker of the same run."""
        self._save_json(self.state_file, json.dumps(state, default=str))

    def _save_json(self, path: Path, text: str) -> None:
        if self._json_written.get(path) == text and path.is_file():
            return
        atomic_write(path, text.encode())
        self._json_written[path] = text
        self._written(path)

    def load_tracker_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    # --- resuming ------------------------------------------------------------------------
    def resume_sources(self) -> list[Path]:
        """Run directories to look in, best first: the named run, this run, then the app's others
        by the time of their latest checkpoint, newest first."""
        if self.p.RESUME_RUN_NAME:
            return [self.runs_root / self.p.RESUME_RUN_NAME]
        if not self.p.AUTO_RESUME_LATEST:
            return []
        others = []
        for run in self.runs_root.iterdir() if self.runs_root.is_dir() else ():
            folder = run / self.p.CHECKPOINT_SAVE_DIR_NAME
            if run != self.run_dir and folder.is_dir():
                mtimes = [f.stat().st_mtime for f in folder.glob("*.pkl")]
                if mtimes:
                    others.append((max(mtimes), run))
        others.sort(reverse=True)
        return [self.run_dir, *(run for _, run in others)]

    def load_latest_checkpoint(self) -> tuple[CheckpointData, Path] | None:
        """The newest readable checkpoint, falling back (with a warning) past corrupt ones."""
        if self.p.LOAD_CHECKPOINT_PATH:
            path = Path(self.p.LOAD_CHECKPOINT_PATH)
            return CheckpointData.model_validate(read_state_file(path, "checkpoint")), path
        for run in self.resume_sources():
            folder = run / self.p.CHECKPOINT_SAVE_DIR_NAME
            candidates = [folder / self.p.LATEST_CHECKPOINT_FILENAME, *step_files(folder)]
            candidates = [c for c in candidates if c.is_file()]
            first_bad: tuple[Path, SerializationError] | None = None
            for path in candidates:
                try:
                    data = read_state_file(path, "checkpoint")
                except SerializationError as exc:
                    if first_bad is None:
                        first_bad = (path, exc)
                    continue
                if first_bad is not None:
                    log.warning(
                        "checkpoint %s is unreadable (%s); resuming from %s instead",
                        first_bad[0],
                        first_bad[1],
                        path,
                    )
                return CheckpointData.model_validate(data), path
            if first_bad is not None:
                log.warning("no readable checkpoint in %s (first failure: %s)", folder, first_bad)
        return None

    def load_buffer(self, run_dir: Path | None) -> tuple[BufferData, Path] | None:
        """The buffer saved in ``run_dir`` (or the explicit path), if any."""
        if self.p.LOAD_BUFFER_PATH:
            path = Path(self.p.LOAD_BUFFER_PATH)
        elif run_dir is not None:
            path = run_dir / self.p.BUFFER_SAVE_DIR_NAME / self.p.BUFFER_FILENAME
            if not path.is_file():
                return None
        else:
            return None
        return BufferData.model_validate(read_state_file(path, "buffer")), path


def step_files(folder: Path) -> list[Path]:
    """``checkpoint_step_N.pkl`` files in ``folder``, highest step first."""
    return [path for _, path in _by_step(folder, _STEP_FILE)]


def _by_step(folder: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """``(step, path)`` of the files of ``folder`` whose name ``pattern`` matches (its group
    is the step), highest step first."""
    if not folder.is_dir():
        return []
    found = [(int(m[1]), path) for path in folder.iterdir() if (m := pattern.match(path.name))]
    return sorted(found, reverse=True)
