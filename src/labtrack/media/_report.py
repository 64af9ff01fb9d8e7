"""The recorders' one failure boundary: report a problem once, count it, go on.

Like the store's outages: the first failure of each kind is a warning through the ``labtrack``
logger (with the traceback when it is not a plain bad-input error), repeats are at debug level,
and every one is counted. Training never sees them.
"""

from __future__ import annotations

import logging

log = logging.getLogger("labtrack")

#: Bad input the user can fix from the message alone: no traceback in the report.
PLAIN = (ValueError, TypeError, OSError)


class Reporter:
    """Report each kind of failure once (see the module docstring)."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.failures = 0
        self._seen: set[str] = set()

    def failed(self, kind: str, message: str, exc: BaseException) -> None:
        self.failures += 1
        first = kind not in self._seen
        self._seen.add(kind)
        text = f"{self.who}: {message}: {exc}"
        if first:
            log.warning(
                "%s (reported once; training goes on)", text, exc_info=not isinstance(exc, PLAIN)
            )
        else:
            log.debug("%s", text)
