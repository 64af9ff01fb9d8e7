"""Turn raw events into logged points by the rules of a :class:`StatsConfig`. Plain Python.

No Ray, no threads, no I/O: the in-process :class:`Tracker` and the Ray actor both drive one
:class:`Aggregator`, and its tests give exact expected values with an injected clock::

    agg = Aggregator(StatsConfig(metrics=[MetricConfig(name="loss", log_frequency_steps=2)]))
    agg.add("loss", 1.0, 1)
    agg.add("loss", 3.0, 2)
    agg.process(2)   # -> [Point(name="loss", value=2.0, x=2, ...)]

Values are appended to a list on the hot path (``add``) and folded into a running summary
(count, sum, min, max, last, M2) when a metric is processed or when its list grows past
``FOLD_AT`` items, so memory stays bounded however long a metric goes without being logged.
``std`` is the population standard deviation (``ddof=0``, as ``statistics.pstdev``).
"""

from __future__ import annotations

import logging
import math
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import MetricConfig, StatsConfig

log = logging.getLogger(__name__)

FOLD_AT = 65_536


@dataclass(frozen=True)
class Point:
    """One aggregated value ready for the sinks."""

    name: str
    value: float
    x: int  # the x value on the metric's axis (global step, seconds since start, episode)
    step: int  # the global step it was processed at
    log_to: tuple[str, ...]
    x_axis: str = "global_step"


@dataclass
class _Series:
    """Values of one metric since it was last logged."""

    values: list[float] = field(default_factory=list)
    count: int = 0
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    last: float = math.nan
    seen: bool = False  # received any value ever
    event_time: float | None = None  # timestamp of the newest event given one (epoch seconds)
    last_log_step: int = 0
    last_log_time: float = 0.0

    def fold(self) -> None:
        values = self.values
        if not values:
            return
        n_b = len(values)
        total_b = math.fsum(values)
        mean_b = total_b / n_b
        m2_b = math.fsum((v - mean_b) ** 2 for v in values)
        n = self.count + n_b
        delta = mean_b - self.mean
        self.m2 += m2_b + delta * delta * self.count * n_b / n
        self.total += total_b
        self.mean = self.total / n
        self.count = n
        self.low = min(self.low, min(values))
        self.high = max(self.high, max(values))
        self.last = values[-1]
        self.values = []

    def reset(self, step: int, now: float) -> None:
        self.values = []
        self.count, self.total, self.mean, self.m2 = 0, 0.0, 0.0, 0.0
        self.low, self.high, self.last = math.inf, -math.inf, math.nan
        self.last_log_step, self.last_log_time = step, now


def _aggregate(metric: MetricConfig, s: _Series, elapsed: float) -> float | None:
    how = metric.aggregation
    if how == "rate":
        # a window with no time or no events has no rate: nothing is logged (not a 0.0)
        return s.total / elapsed if elapsed > 0 and s.count > 0 else None
    if s.count == 0:
        return None
    if how == "mean":
        return s.mean
    if how == "sum":
        return s.total
    if how == "latest":
        return s.last
    if how == "min":
        return s.low
    if how == "max":
        return s.high
    if how == "std":
        return math.sqrt(max(s.m2, 0.0) / s.count)
    return float(s.count)  # "count"


class Aggregator:
    """Buffers raw events per metric and emits aggregated :class:`Point` objects when due.

    ``clock`` is a monotonic clock in seconds (rates and time frequencies);
    ``wall_clock`` gives epoch seconds (the ``wall_time`` x axis).
    """

    def __init__(
        self,
        stats: StatsConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._episode_event = stats.episode_event_name
        self._metrics = list(stats.metrics)
        self._series: dict[str, _Series] = {}
        self._by_event: dict[str, list[tuple[MetricConfig, _Series]]] = {}
        now = clock()
        for metric in self._metrics:
            series = _Series(last_log_time=now)
            self._series[metric.name] = series
            self._by_event.setdefault(metric.event_name, []).append((metric, series))
        self.start_wall_time = wall_clock()
        self.episodes = 0
        self.last_processed_step = 0
        self.counts: dict[str, int] = {
            "received": 0,
            "nonfinite": 0,
            "unknown": 0,
            "missing_context": 0,
            "invalid": 0,
        }
        self.unknown_names: set[str] = set()
        self.latest_values: dict[str, float] = {}  # last aggregate of every metric

    def add(
        self,
        name: str,
        value: float,
        step: int,
        context: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Route one event to the metrics that listen to ``name``; ``timestamp`` (epoch
        seconds, when the event happened) places it on the ``wall_time`` axis."""
        counts = self.counts
        counts["received"] += 1
        if name == self._episode_event:
            self.episodes += 1
        targets = self._by_event.get(name)
        if targets is None:
            if name != self._episode_event:
                self._unknown(name, 1)
            return
        for metric, series in targets:
            v = value
            key = metric.context_key
            if key is not None:
                raw = context.get(key) if context else None
                if raw is None or isinstance(raw, bool) or not isinstance(raw, (int, float)):
                    counts["missing_context"] += 1
                    continue
                v = float(raw)
            if not math.isfinite(v):
                counts["nonfinite"] += 1
                continue
            values = series.values
            values.append(v)
            series.seen = True
            if timestamp is not None:
                series.event_time = timestamp
            if len(values) >= FOLD_AT:
                series.fold()

    def add_run(self, name: str, values: Sequence[float]) -> None:
        """``add(name, v, step)`` for each of ``values`` (context-free events, as the batching
        client packs them: ``labtrack.tracker.batch``), at C speed rather than one by one."""
        n = len(values)
        counts = self.counts
        counts["received"] += n
        if name == self._episode_event:
            self.episodes += n
        targets = self._by_event.get(name)
        if targets is None:
            if name != self._episode_event:
                self._unknown(name, n)
            return
        finite = values if all(map(math.isfinite, values)) else [*filter(math.isfinite, values)]
        for metric, series in targets:
            if metric.context_key is not None:
                counts["missing_context"] += n
                continue
            counts["nonfinite"] += n - len(finite)
            if finite:
                series.values.extend(finite)
                series.seen = True
                if len(series.values) >= FOLD_AT:
                    series.fold()

    def _unknown(self, name: str, n: int) -> None:
        self.counts["unknown"] += n
        if name not in self.unknown_names:
            self.unknown_names.add(name)
            log.warning(
                "event %r matches no metric (no raw_event_name, name or "
                "rate_numerator_event is %r); such events are counted and dropped",
                name,
                name,
            )

    def add_many(self, batch: Iterable[Any]) -> None:
        """``add`` for each ``(name, value, step, context[, timestamp])`` tuple, ``add_run`` for
        a packed run (``value`` an ``array("d")``); malformed ones are counted as ``invalid``
        (and reported once) instead of raising."""
        add = self.add
        for item in batch:
            try:
                if len(item) not in (4, 5):  # (name, value, step, context[, timestamp])
                    raise ValueError(item)
                if item[1].__class__ is array:  # a run packed by labtrack.tracker.batch
                    self.add_run(item[0], item[1])
                else:
                    add(*item)
            except (TypeError, ValueError):
                self.counts["invalid"] += 1
                if self.counts["invalid"] == 1:
                    log.warning(
                        "dropped a malformed event %.200r (expected name, value, step, context)",
                        item,
                    )

    def process(self, step: int, *, force: bool = False) -> list[Point]:
        """Aggregate every metric that is due at ``step`` (all with a frequency when ``force``)."""
        now = self._clock()
        self.last_processed_step = max(self.last_processed_step, step)
        points: list[Point] = []
        for metric in self._metrics:
            series = self._series[metric.name]
            by_steps = metric.log_frequency_steps > 0
            by_time = metric.log_frequency_seconds > 0
            if by_steps or by_time:
                due = force or (
                    (by_steps and step - series.last_log_step >= metric.log_frequency_steps)
                    or (by_time and now - series.last_log_time >= metric.log_frequency_seconds)
                )
                if not due:
                    continue
            series.fold()
            value = _aggregate(metric, series, now - series.last_log_time)
            event_time, series.event_time = series.event_time, None
            series.reset(step, now)
            if value is None:
                continue
            self.latest_values[metric.name] = value
            if by_steps or by_time:
                points.append(
                    Point(
                        metric.name,
                        value,
                        self._x(metric, step, event_time),
                        step,
                        tuple(metric.log_to),
                        metric.x_axis,
                    )
                )
        return points

    def _x(self, metric: MetricConfig, step: int, event_time: float | None = None) -> int:
        if metric.x_axis == "wall_time":
            at = event_time if event_time is not None else self._wall_clock()
            return max(0, int(at - self.start_wall_time))
        if metric.x_axis == "episode":
            return self.episodes
        return step

    def state_dict(self) -> dict[str, Any]:
        """The part of the state that survives a restart (no buffered values)."""
        return {
            "last_processed_step": self.last_processed_step,
            "episodes": self.episodes,
            "start_wall_time": self.start_wall_time,
            "counts": dict(self.counts),
            "last_log_step": {n: s.last_log_step for n, s in self._series.items()},
            "latest_values": dict(self.latest_values),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; unknown metric names are ignored."""
        self.last_processed_step = int(state.get("last_processed_step", 0))
        self.episodes = int(state.get("episodes", 0))
        self.start_wall_time = float(state.get("start_wall_time", self.start_wall_time))
        self.counts.update({k: int(v) for k, v in state.get("counts", {}).items()})
        self.latest_values.update(state.get("latest_values", {}))
        for name, last in state.get("last_log_step", {}).items():
            if name in self._series:
                self._series[name].last_log_step = int(last)
