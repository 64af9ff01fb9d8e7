"""Reporting I/O failures once per outage.

A writer touches three kinds of file: the data file, the metadata, and media/artifact files. An
outage is one cause (an ``errno``: a full disk, a permission error) hitting one or more of them:
its first failure is logged as an error through the ``labtrack`` logger, every later failure with
the same cause is silent, whichever file it hits, and "works again" is logged once, when every
file the outage hit has been written again. A success of a file the outage never hit (the data
file, while only the metadata fails) ends nothing, so it never logs a false recovery.
"""

from __future__ import annotations

import logging
from typing import Literal

log = logging.getLogger("labtrack")

Target = Literal["data", "metadata", "media"]


class Outages:
    """The outages of one run's files; ``prefix`` starts every message (``run <id>``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._down: dict[int | None, set[str]] = {}  # cause -> the targets it hit
        self.count = 0  # outages reported so far

    def failed(
        self, target: Target, message: str, *, cause: int | None = None, exc_info: bool = False
    ) -> None:
        hit = self._down.get(cause)
        if hit is None:
            self._down[cause] = {target}
            self.count += 1
            log.error("%s: %s", self.prefix, message, exc_info=exc_info)
        else:
            hit.add(target)

    def ok(self, target: Target) -> None:
        for cause, hit in list(self._down.items()):
            if target in hit:
                hit.discard(target)
                if not hit:
                    del self._down[cause]
                    log.warning("%s: writing files works again (%s)", self.prefix, target)

    def is_down(self, target: Target) -> bool:
        return any(target in hit for hit in self._down.values())
