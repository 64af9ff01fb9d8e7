"""How the batching client packs events: fewer, flatter items, the same statistics."""

from __future__ import annotations

import math
import pickle
from array import array
from typing import Any

import pytest

from labtrack.tracker import StatsConfig, Tracker, TrackerConfig
from labtrack.tracker.aggregation import Aggregator
from labtrack.tracker.batch import EventBatch, pack
from labtrack.tracker.config import MetricConfig, PersistenceConfig

HOW = ("mean", "sum", "latest", "min", "max", "count", "std")


def test_runs_of_alike_events_become_one_item_in_order() -> None:
    events = [
        ("step_reward", 1.0, 3, None),
        ("step_reward", 0.0, 3, None),
        ("step_reward", 1.0, 3, None),
        ("episode_end", 1.0, 3, {"score": 2.0}),  # a context: sent as it is
        ("step_reward", 1.0, 4, None),  # another step: a new run
        ("step_reward", 2.0, 4, None),
        ("loss", 0.5, 4, None),  # alone: sent as it is
    ]
    batch = pack(events)
    assert batch.events == 7
    assert batch == [
        ("step_reward", array("d", [1.0, 0.0, 1.0]), 3, None),
        ("episode_end", 1.0, 3, {"score": 2.0}),
        ("step_reward", array("d", [1.0, 2.0]), 4, None),
        ("loss", 0.5, 4, None),
    ]
    again = pickle.loads(pickle.dumps(batch))  # as Ray ships it
    assert type(again) is EventBatch and again == batch and again.events == 7


def test_a_batch_with_few_alike_neighbours_is_left_as_it_is() -> None:
    events = [("episode_end", 1.0, step, None) for step in range(1000)]  # one per step
    events[500:502] = [("loss", 0.1, 7, None), ("loss", 0.2, 7, None)]  # one short run
    batch = pack(events)
    assert batch == events and batch.events == 1000


def test_a_value_array_refuses_travels_unpacked() -> None:
    events = [("n", 2**1100, 1, None), ("n", 1.0, 1, None)]  # too large for a double
    assert pack(events) == events


def aggregate(items: list[Any]) -> tuple[dict[str, float], dict[str, int], int]:
    metrics = [
        MetricConfig(name=f"r_{how}", raw_event_name="r", aggregation=how, log_frequency_steps=1)  # type: ignore[arg-type]
        for how in HOW
    ] + [
        MetricConfig(
            name="score", raw_event_name="episode_end", context_key="score", log_frequency_steps=1
        )
    ]
    agg = Aggregator(StatsConfig(metrics=metrics))
    agg.add_many(items)
    points = {p.name: p.value for p in agg.process(5)}
    return points, dict(agg.counts), agg.episodes


def test_packed_and_unpacked_events_give_the_same_statistics_and_counts() -> None:
    events = [("r", float(v), 5, None) for v in (3, 1, 4, 1, 5, 9, 2, 6)]
    events += [("r", math.nan, 5, None), ("r", math.inf, 5, None)]  # counted as nonfinite
    events += [("episode_end", 1.0, 5, None)] * 3  # no score in the context: missing_context
    events += [("episode_end", 1.0, 5, {"score": 7.0})]
    events += [("nobody", 1.0, 5, None)] * 4  # unknown, reported once
    plain, packed = aggregate(events), aggregate(pack(events))
    assert packed == plain
    points, counts, episodes = packed
    assert points["r_mean"] == pytest.approx(31 / 8) and points["r_latest"] == 6.0
    assert points["r_count"] == 8.0 and points["score"] == 7.0
    assert counts["received"] == 18 and counts["nonfinite"] == 2 * len(HOW)
    assert counts["unknown"] == 4 and counts["missing_context"] == 3
    assert episodes == 4


def test_tracker_takes_a_packed_batch_and_the_step_in_one_call(tmp_path: Any) -> None:
    config = TrackerConfig(
        app_name="app",
        run_name="r",
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(tmp_path)),
        stats=StatsConfig(
            metrics=[MetricConfig(name="r", aggregation="sum", log_frequency_steps=1)]
        ),
    )
    with Tracker(config, sinks=[]) as tracker:
        batch = pack([("r", 1.0, 2, None)] * 1000)
        assert len(batch) == 1
        assert tracker.log_events(batch, step=2) == 1000
        tracker.force_process_and_log(2)
        assert tracker.get_counts()["received"] == 1000
        assert tracker.latest_values() == {"r": 1000.0}
