from __future__ import annotations

import math
import statistics

import pytest

from labtrack.tracker.aggregation import Aggregator, Point
from labtrack.tracker.config import MetricConfig, StatsConfig


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(*metrics: MetricConfig, clock: Clock | None = None) -> tuple[Aggregator, Clock]:
    clock = clock or Clock()
    wall = Clock(1_000.0)
    return Aggregator(StatsConfig(metrics=list(metrics)), clock=clock, wall_clock=wall), clock


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("mean", 2.5),
        ("sum", 10.0),
        ("latest", 3.0),
        ("min", 1.0),
        ("max", 4.0),
        ("count", 4.0),
        ("std", statistics.pstdev([1.0, 4.0, 2.0, 3.0])),
    ],
)
def test_each_aggregation_gives_the_exact_value(how: str, expected: float) -> None:
    agg, _ = make(MetricConfig(name="m", aggregation=how, log_frequency_steps=1))  # type: ignore[arg-type]
    for v in (1.0, 4.0, 2.0, 3.0):
        agg.add("m", v, 1)
    (point,) = agg.process(1)
    assert point == Point("m", expected, 1, 1, ("mlflow", "tensorboard"))


def test_rate_is_summed_numerator_per_second_of_the_interval() -> None:
    agg, clock = make(
        MetricConfig(
            name="sps",
            aggregation="rate",
            rate_numerator_event="step_completed",
            log_frequency_steps=0,
            log_frequency_seconds=2.0,
        )
    )
    for _ in range(10):
        agg.add("step_completed", 1.0, 1)
    agg.add("step_completed", 5.0, 2)
    clock.now += 1.0
    assert agg.process(2) == []  # only 1 s of the 2 s period has passed
    clock.now += 1.5
    (point,) = agg.process(3)
    assert point.value == 15.0 / 2.5
    clock.now += 2.0
    assert agg.process(4) == []  # no events in the next window: no rate point (not a 0.0)


def test_rate_logs_nothing_before_its_first_event() -> None:
    agg, clock = make(
        MetricConfig(
            name="sps", aggregation="rate", rate_numerator_event="sim", log_frequency_steps=1
        )
    )
    clock.now += 10
    assert agg.process(5) == []


def test_step_frequency_accumulates_until_due() -> None:
    agg, _ = make(MetricConfig(name="loss", aggregation="mean", log_frequency_steps=10))
    for step in range(1, 10):
        agg.add("loss", float(step), step)
        assert agg.process(step) == []
    agg.add("loss", 10.0, 10)
    (point,) = agg.process(10)
    assert (point.value, point.x) == (5.5, 10)  # mean of 1..10, over all ten steps
    agg.add("loss", 7.0, 11)
    assert agg.process(19) == []
    assert agg.process(20)[0].value == 7.0


def test_either_frequency_triggers_and_neither_means_never_logged() -> None:
    agg, clock = make(
        MetricConfig(name="both", log_frequency_steps=100, log_frequency_seconds=5.0),
        MetricConfig(name="internal", raw_event_name="both", log_frequency_steps=0),
    )
    agg.add("both", 2.0, 1)
    assert agg.process(1) == []
    clock.now += 5.0
    assert [p.name for p in agg.process(2)] == ["both"]  # by time
    agg.add("both", 4.0, 3)
    assert [p.name for p in agg.process(102)] == ["both"]  # by steps
    assert agg.latest_values["internal"] == 4.0  # aggregated, kept, never emitted
    assert agg.process(500, force=True) == []  # force: only metrics with a frequency


def test_context_key_raw_event_name_and_one_event_feeding_several_metrics() -> None:
    agg, _ = make(
        MetricConfig(
            name="Episode/Score",
            raw_event_name="episode_end",
            context_key="score",
            aggregation="mean",
        ),
        MetricConfig(
            name="Episode/Length",
            raw_event_name="episode_end",
            context_key="length",
            aggregation="max",
        ),
        MetricConfig(name="Episodes", raw_event_name="episode_end", aggregation="count"),
    )
    agg.add("episode_end", 1.0, 1, {"score": 10.0, "length": 30})
    agg.add("episode_end", 1.0, 1, {"score": 20.0, "length": 50})
    agg.add("episode_end", 1.0, 1, {"length": "long"})  # no score; length not a number
    points = {p.name: p.value for p in agg.process(1)}
    assert points == {"Episode/Score": 15.0, "Episode/Length": 50.0, "Episodes": 3.0}
    assert agg.counts["missing_context"] == 2
    assert agg.episodes == 3


def test_non_finite_values_are_skipped_and_counted() -> None:
    agg, _ = make(MetricConfig(name="loss", aggregation="mean"))
    for v in (1.0, math.nan, math.inf, -math.inf, 3.0):
        agg.add("loss", v, 1)
    assert agg.process(1)[0].value == 2.0
    assert agg.counts == {
        "received": 5,
        "nonfinite": 3,
        "unknown": 0,
        "missing_context": 0,
        "invalid": 0,
    }


def test_unknown_events_are_counted_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    agg, _ = make(MetricConfig(name="loss"))
    for _ in range(3):
        agg.add("typo_loss", 1.0, 1)
    assert agg.counts["unknown"] == 3
    assert agg.unknown_names == {"typo_loss"}
    assert [r.getMessage() for r in caplog.records].count(
        caplog.records[0].getMessage()
    ) == 1 and "typo_loss" in caplog.records[0].getMessage()


def test_malformed_tuples_in_a_batch_are_counted_not_raised() -> None:
    agg, _ = make(MetricConfig(name="loss", aggregation="mean"))
    agg.add_many(
        [("loss", 1.0, 1, None), ("loss", "oops", 1, None), ("short",), ("loss", 3.0, 2, None)]
    )
    assert agg.counts["invalid"] == 2
    assert agg.process(2)[0].value == 2.0


def test_x_axes() -> None:
    agg, _ = make(
        MetricConfig(name="by_step", raw_event_name="v"),
        MetricConfig(name="by_wall", raw_event_name="v", x_axis="wall_time"),
        MetricConfig(name="by_episode", raw_event_name="v", x_axis="episode"),
    )
    agg._wall_clock.now += 42.7  # type: ignore[attr-defined]
    agg.add("episode_end", 1.0, 1)
    agg.add("episode_end", 1.0, 2)
    agg.add("v", 1.0, 7)
    xs = {p.name: p.x for p in agg.process(7)}
    assert xs == {"by_step": 7, "by_wall": 42, "by_episode": 2}


def test_long_intervals_fold_values_and_stay_exact() -> None:
    agg, _ = make(
        MetricConfig(name="m", aggregation="std", log_frequency_steps=1),
        MetricConfig(name="n", raw_event_name="m", aggregation="mean"),
    )
    values = [float(i % 7) for i in range(200_000)]  # more than FOLD_AT: folded in chunks
    agg.add_many(("m", v, 1, None) for v in values)
    got = {p.name: p.value for p in agg.process(1)}
    assert got["n"] == statistics.fmean(values)
    assert got["m"] == pytest.approx(statistics.pstdev(values), rel=1e-12)


def test_state_round_trip_keeps_step_state() -> None:
    agg, _ = make(MetricConfig(name="loss", log_frequency_steps=10))
    agg.add("loss", 1.0, 10)
    agg.add("episode_end", 1.0, 10)
    agg.process(10)
    again, _ = make(MetricConfig(name="loss", log_frequency_steps=10))
    again.load_state_dict(agg.state_dict())
    assert (again.last_processed_step, again.episodes) == (10, 1)
    again.add("loss", 2.0, 15)
    assert again.process(15) == []  # last logged at 10: not due before 20
    assert again.process(20)[0].value == 2.0


def test_metric_config_defaults_are_trieyes() -> None:
    m = MetricConfig(name="x", source="custom")  # trieye requires source; labtrack defaults it
    assert (m.aggregation, m.log_frequency_steps, m.log_frequency_seconds) == ("latest", 1, 0.0)
    assert m.log_to == ["mlflow", "tensorboard"] and m.x_axis == "global_step"


def test_an_event_timestamp_places_it_on_the_wall_time_axis() -> None:
    agg, _ = make(MetricConfig(name="v", x_axis="wall_time"))
    agg.start_wall_time = 1000.0
    agg.add_many([("v", 1.0, 1, None, 1042.5)])  # (name, value, step, context, timestamp)
    (point,) = agg.process(1)
    assert (point.value, point.x) == (1.0, 42)
