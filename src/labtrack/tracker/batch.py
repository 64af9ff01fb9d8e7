"""How the batching client packs events for the trip to the actor.

Most events a worker sends are alike: ``step_reward`` once per environment step, with no
context, at the step of the weights it plays with. Sent as tuples, each one costs the actor
about a microsecond before any statistics: Ray unpickles four objects, and the aggregator
routes the event on its own. :func:`pack` turns each run of consecutive context-free events of
one name and step into one ``(name, values, step, None)`` item whose ``values`` is an
``array("d")``: one item of flat bytes instead of thousands of tuples, which the aggregator adds
as a whole (:meth:`~labtrack.tracker.aggregation.Aggregator.add_many`). Order is kept: only
*consecutive* alike events form a run, so every metric sees its values in the order sent.

The result is an :class:`EventBatch`, a list that knows how many events it holds; the tracker
takes its items as they are.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

_RUN_KEY = itemgetter(0, 2, 3)  # name, step, context
_VALUE = itemgetter(1)


class EventBatch(list[tuple[Any, ...]]):
    """Packed ``(name, value | array("d"), step, context)`` items and their ``events`` count."""

    def __init__(self, items: Sequence[tuple[Any, ...]] = (), events: int = 0) -> None:
        super().__init__(items)
        self.events = events


def pack(events: Sequence[tuple[Any, ...]]) -> EventBatch:
    """``(name, value, step, context)`` tuples with consecutive context-free ones of one name
    and step merged into one item whose value is an ``array("d")`` of their values.

    A batch where few neighbours are alike (one event per step, say) is left as it is: finding
    its few runs would cost more than they save.
    """
    if not _worth_packing(events):
        return EventBatch(events, len(events))
    out = EventBatch(events=len(events))
    for (name, step, context), run in groupby(events, _RUN_KEY):
        items = list(run)
        if len(items) == 1 or context is not None:
            out.extend(items)
            continue
        try:
            values = array("d", map(_VALUE, items))
        except (TypeError, OverflowError):  # a value array("d") refuses: sent as it is
            out.extend(items)
        else:
            out.append((name, values, step, None))
    return out


def _worth_packing(events: Sequence[tuple[Any, ...]], probes: int = 16) -> bool:
    """Whether at least a quarter of ``probes`` neighbour pairs, spread over the batch, are
    alike: a constant cost, however long the batch."""
    pairs = len(events) - 1
    if pairs < 1:
        return False
    stride = max(1, pairs // probes)
    at = range(0, pairs, stride)
    alike = sum(bool(_RUN_KEY(events[i]) == _RUN_KEY(events[i + 1])) for i in at)
    return alike * 4 >= len(at)
