"""The append side of a run's data file: a bounded backlog of whole records.

The writer frames records (``_records``) and hands them here; :meth:`DataFile.write` appends as
many as the file system takes, one whole record per ``write`` call, so when space is short what
fits still lands and the file never holds half a record between good ones (a failed write is
truncated back to the last record boundary). What cannot be written yet stays in the backlog and
is retried at the next flush, oldest first, so the file is always a prefix of what was logged.

The backlog is bounded by ``max_backlog_bytes``. Past the bound, new scalar and text records are
dropped (the oldest data is kept, so the readable series stay contiguous) and their points are
counted in :attr:`lost_points`; tag tables and media/artifact announcements are tiny and never
dropped, so a point that was written never loses its tag's name.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import NamedTuple

from ._outage import Outages

#: The default bound of data kept in memory while the data file cannot be written.
DEFAULT_MAX_BACKLOG_BYTES = 64 * 1024 * 1024


class Pending(NamedTuple):
    """One framed record waiting to be written, with the points it carries (for accounting)."""

    data: bytes
    points: int = 0
    droppable: bool = True


class DataFile:
    """Appends records to ``path``; opened on the first write (a run with no data has no file)."""

    def __init__(
        self, path: Path, outages: Outages, max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES
    ) -> None:
        self.path = path
        self._outages = outages
        self._max_backlog = max_backlog_bytes
        self._backlog: deque[Pending] = deque()
        self._backlog_bytes = 0
        self._fd: int | None = None
        self.size = 0  # bytes of whole records in the file
        self.lost_points = 0
        self.lost_records = 0
        self.last_error: str | None = None

    @property
    def backlog_points(self) -> int:
        return sum(p.points for p in self._backlog)

    @property
    def pending(self) -> bool:
        return bool(self._backlog)

    def add(self, records: list[Pending]) -> None:
        """Queue records for the next :meth:`write`, dropping droppable ones past the bound."""
        for item in records:
            if item.droppable and self._backlog_bytes + len(item.data) > self._max_backlog:
                self.lost_points += item.points
                self.lost_records += 1
                self._outages.failed(
                    "data",
                    f"cannot write {self.path} ({self.last_error or 'writes fail'}) and "
                    f"{self._backlog_bytes / 1e6:.0f} MB wait in memory (the bound, "
                    f"max_backlog_bytes={self._max_backlog}): dropping newer points until "
                    "writing works again; the run will be marked as having lost data",
                )
                continue
            self._backlog.append(item)
            self._backlog_bytes += len(item.data)

    def write(self) -> bool:
        """Write the backlog, oldest first, as far as the file system allows; True when empty."""
        while self._backlog:
            item = self._backlog[0]
            try:
                self._write_whole(item.data)
            except OSError as exc:
                self.last_error = f"{exc.strerror or exc} (errno {exc.errno})"
                self._outages.failed(
                    "data",
                    f"cannot write {self.path}: {exc}; keeping the data in memory (up to "
                    f"{self._max_backlog / 1e6:.0f} MB) and retrying at every flush",
                    cause=exc.errno,
                )
                return False
            self._backlog.popleft()
            self._backlog_bytes -= len(item.data)
            self.size += len(item.data)
        self._outages.ok("data")
        return True

    def _write_whole(self, data: bytes) -> None:
        fd = self._open()
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            self._truncate_partial(fd)
            raise

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.size = os.fstat(self._fd).st_size
        return self._fd

    def _truncate_partial(self, fd: int) -> None:
        """Cut a half-written record so that the next record starts at a record boundary."""
        try:
            if os.fstat(fd).st_size > self.size:
                os.ftruncate(fd, self.size)
        except OSError:  # then readers see a torn record that the next writer truncates
            pass

    def settle(self) -> None:
        """Wait until what was written is readable: at once for a local file."""

    def drop_backlog(self) -> int:
        """Give up on what is still queued (at close, when writing never recovered)."""
        points = self.backlog_points
        self.lost_points += points
        self.lost_records += len(self._backlog)
        self._backlog.clear()
        self._backlog_bytes = 0
        return points

    def close(self, durable: bool) -> None:
        if self._fd is None:
            return
        if durable:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
        os.close(self._fd)
        self._fd = None
