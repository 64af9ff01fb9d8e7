"""``StoreIngest``: the actor on the store's node that writes what remote writers send.

One actor per store, pinned to the node whose disk holds the store. It does for a remote writer
exactly what that writer would do to a local run directory, with the store's own functions:
claim the run (in the remote process's name, so liveness is judged by that process), append
framed records to the data file, replace the metadata, write media and artifact files, release
the claim.

Exactly-once appends survive a restart of this actor. Each writer's batches carry consecutive
sequence numbers; after appending a batch the actor records ``(next sequence, data file size)``
in ``.labtrack/ingest.<writer>`` (``_Progress``), and only then acknowledges. A batch seen before is
acknowledged again without writing; a batch that skips ahead is refused with the number expected,
and the writer resends from there. When the actor starts on a stream it truncates the data file
to the recorded size, so a batch written but never recorded (the actor died between the two) is
written once more when it is resent, never twice.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..store._claim import Claimed, claim, release
from ..store._files import is_inside
from ..store._meta import DATA_FILE, META_DIR, META_FILE, write_json_atomic

#: A progress slot: (next sequence number, data file size, CRC-32 of those 16 bytes).
_SLOT = struct.Struct("<QQI")


class _Progress:
    """``(next sequence, data size)`` of one stream, in ``.labtrack/ingest.<writer>``.

    Two fixed slots, written in turn with one ``pwrite`` each (a process crash cannot tear a
    write, and a slot that a power loss tore fails its checksum, leaving the other): no rename
    per batch, which costs a millisecond where a ``pwrite`` costs a microsecond.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def read(self) -> tuple[int, int] | None:
        best = None
        for slot in range(2):
            raw = os.pread(self.fd, _SLOT.size, slot * _SLOT.size)
            if len(raw) < _SLOT.size:
                continue
            seq, size, crc = _SLOT.unpack(raw)
            if zlib.crc32(raw[:16]) == crc and (best is None or seq > best[0]):
                best = (seq, size)
        return best

    def write(self, seq: int, size: int) -> None:
        head = struct.pack("<QQ", seq, size)
        os.pwrite(self.fd, head + struct.pack("<I", zlib.crc32(head)), (seq % 2) * _SLOT.size)

    def close(self) -> None:
        os.close(self.fd)


class _Stream:
    """One writer's appends to one run's data file."""

    def __init__(self, run_dir: Path, writer: str) -> None:
        self.path = run_dir / META_DIR / DATA_FILE
        self.progress = _Progress(run_dir / META_DIR / f"ingest.{writer}")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(self.fd).st_size
        done = self.progress.read()
        self.next_seq, self.size = done if done is not None else (0, size)  # None: a first batch
        if size > self.size:  # written by an earlier instance but never acknowledged
            os.ftruncate(self.fd, self.size)

    def append(self, records: Sequence[bytes]) -> None:
        try:
            for data in records:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.fd, view) :]
        except OSError:
            os.ftruncate(self.fd, self.size)  # whole batches only
            raise
        self.size += sum(len(r) for r in records)

    def commit(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self.progress.write(next_seq, self.size)

    def close(self, durable: bool) -> None:
        if durable:
            os.fsync(self.fd)
        os.close(self.fd)
        self.progress.close()


class StoreIngest:
    """The methods of the ingest actor (see the module docstring); called by
    :class:`~labtrack.cluster._remote.RemoteOutput`, never by users."""

    def __init__(self, root: str, name: str) -> None:
        self.root = Path(root).absolute()
        self.name = name
        self.root.mkdir(parents=True, exist_ok=True)
        self._streams: dict[tuple[str, str], _Stream] = {}

    def where(self) -> dict[str, Any]:
        """The store's folder, node and this actor's pid (writers compare the node with
        their own to decide whether to write locally)."""
        import ray

        return {
            "root": str(self.root),
            "name": self.name,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
        }

    def claim(
        self,
        run_dir: str,
        experiment: str,
        name: str | None,
        config: dict[str, Any],
        tags: dict[str, str],
        run_id: str | None,
        owner: Mapping[str, Any],
    ) -> Claimed:
        return claim(self._inside(run_dir), experiment, name, config, tags, run_id, owner)

    def append(self, run_dir: str, writer: str, seq: int, records: Sequence[bytes]) -> int:
        """Append batch ``seq`` unless it was appended before; returns the next sequence
        number expected (greater than ``seq`` means acknowledged)."""
        stream = self._stream(run_dir, writer)
        if seq != stream.next_seq:  # a duplicate (acknowledge again) or a gap (resend)
            return stream.next_seq
        stream.append(records)
        stream.commit(seq + 1)
        return stream.next_seq

    def write_meta(self, run_dir: str, writer: str, meta: dict[str, Any], fsync: bool) -> None:
        folder = self._inside(run_dir)
        stream = self._streams.get((str(folder), writer))
        if stream is not None:
            meta["data_size"] = stream.size  # what is on this disk, not what was sent
        write_json_atomic(folder / META_DIR / META_FILE, meta, fsync=fsync)

    def put_file(self, run_dir: str, relative: str, chunks: Sequence[Any]) -> int:
        """Write a media or artifact file from chunks (object refs or bytes), atomically:
        readers see the whole file or none. Returns its size."""
        import ray

        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"file path {relative!r} must be relative and inside the run")
        dest = self._inside(run_dir) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.part-{os.getpid()}")
        size = 0
        with open(partial, "wb") as fh:
            for chunk in chunks:
                data = chunk if isinstance(chunk, bytes | bytearray) else ray.get(chunk)
                fh.write(data)
                size += len(data)
        os.replace(partial, dest)
        return size

    def files(self, run_dir: str) -> list[str]:
        """The files of a run directory outside ``.labtrack/`` (relative paths, sorted)."""
        folder = self._inside(run_dir)
        if not folder.is_dir():
            return []
        return sorted(
            str(p.relative_to(folder))
            for p in folder.rglob("*")
            if p.is_file() and p.relative_to(folder).parts[0] != META_DIR
        )

    def read_file(self, run_dir: str, relative: str) -> list[Any]:
        """One file of a run directory as ``ray.put`` chunks (never one giant reply)."""
        import ray

        from ._remote import CHUNK_BYTES

        path = self._inside(run_dir) / relative
        if not is_inside(path.resolve(), self._inside(run_dir).resolve()):
            raise ValueError(f"file path {relative!r} must be inside the run")
        chunks = []
        with open(path, "rb") as fh:
            while data := fh.read(CHUNK_BYTES):
                chunks.append(ray.put(data))
        return chunks

    def close(self, run_dir: str, writer: str, durable: bool) -> None:
        stream = self._streams.pop((str(self._inside(run_dir)), writer), None)
        if stream is not None:
            stream.close(durable)

    def release(self, run_dir: str, writer: str, number: int) -> None:
        folder = self._inside(run_dir)
        (folder / META_DIR / f"ingest.{writer}").unlink(missing_ok=True)
        release(folder, number)

    def _stream(self, run_dir: str, writer: str) -> _Stream:
        folder = self._inside(run_dir)
        key = (str(folder), writer)
        stream = self._streams.get(key)
        if stream is None:
            if not (folder / META_DIR).is_dir():
                raise FileNotFoundError(f"{folder} is not a claimed run directory")
            stream = self._streams[key] = _Stream(folder, writer)
        return stream

    def _inside(self, run_dir: str) -> Path:
        folder = Path(run_dir)
        if not folder.is_absolute() or not is_inside(folder, self.root) or ".." in folder.parts:
            raise ValueError(f"run directory {run_dir!r} is not inside the store {self.root}")
        return folder
