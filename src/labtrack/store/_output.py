"""Where a :class:`RunWriter`'s bytes go: the run directory on this machine, or elsewhere.

A writer touches storage in five ways, and only through a :class:`RunOutput`: it claims the run
(creating or taking over the directory), appends framed records to the data file, rewrites the
metadata, has media and artifact files written under a local folder, and releases the claim at the
end. :class:`LocalOutput` does all five on the local file system; it is what every run uses unless
it is opened on a machine that cannot see its store, where ``labtrack.cluster`` supplies an output
that ships the same bytes to the store's node. Buffering, deadlines, backpressure and loss
accounting stay in the writer, so they are the same wherever the bytes go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ._claim import Claimed, claim, release
from ._datafile import DataFile, Pending
from ._meta import DATA_FILE, META_DIR, META_FILE, write_json_atomic
from ._outage import Outages


class DataSink(Protocol):
    """The append side of a run's data (see :class:`~labtrack.store._datafile.DataFile`):
    records queue in a bounded backlog and :meth:`write` moves them on, oldest first."""

    path: Path
    size: int
    lost_points: int
    last_error: str | None

    @property
    def pending(self) -> bool: ...

    def add(self, records: list[Pending]) -> None: ...

    def write(self) -> bool: ...

    def settle(self) -> None:
        """Wait (bounded) until what :meth:`write` moved on is readable by the store's readers."""

    def drop_backlog(self) -> int: ...

    def close(self, durable: bool) -> None: ...


class RunOutput(Protocol):
    """The storage side of one run's writer (see the module docstring)."""

    #: The run directory as the store knows it.
    run_dir: Path
    #: The local folder media and artifact files are written under before they are announced.
    files_dir: Path

    def claim(
        self,
        experiment: str,
        name: str | None,
        config: dict[str, Any],
        tags: dict[str, str],
        run_id: str | None,
    ) -> Claimed: ...

    def data_file(self, outages: Outages, max_backlog_bytes: int) -> DataSink: ...

    def files_written(self, paths: Iterable[Path]) -> None:
        """Media or artifact files now complete under :attr:`files_dir`; called before the
        records announcing them are added to the data file."""

    def write_meta(self, meta: Mapping[str, Any], fsync: bool) -> None:
        """Replace the metadata; raises OSError when it cannot."""

    def release(self, number: int) -> None: ...


class LocalOutput:
    """The run directory on this machine: what the writer has always done."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.files_dir = run_dir

    def claim(
        self,
        experiment: str,
        name: str | None,
        config: dict[str, Any],
        tags: dict[str, str],
        run_id: str | None,
    ) -> Claimed:
        return claim(self.run_dir, experiment, name, config, tags, run_id)

    def data_file(self, outages: Outages, max_backlog_bytes: int) -> DataFile:
        return DataFile(self.run_dir / META_DIR / DATA_FILE, outages, max_backlog_bytes)

    def files_written(self, paths: Iterable[Path]) -> None:
        pass  # already where they belong

    def write_meta(self, meta: Mapping[str, Any], fsync: bool) -> None:
        write_json_atomic(self.run_dir / META_DIR / META_FILE, meta, fsync=fsync)

    def release(self, number: int) -> None:
        release(self.run_dir, number)
