from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from labtrack.sinks import GuardedSink, MemorySink, SinkRun, create_sink

from .test_tensorboard import read_scalars


class FlakySink(MemorySink):
    """Raises OSError on the first ``failures`` calls of log_metrics."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        super().log_metrics(metrics, step=step, wall_time=wall_time)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failing_sink_is_reported_once_and_retried_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    inner = FlakySink(failures=2)
    sink = GuardedSink(inner, retry_seconds=1.0, clock=clock)
    sink.open(SinkRun("app", "run", tmp_path))
    with caplog.at_level(logging.WARNING, logger="labtrack.sinks._guard"):
        for step in range(5):
            sink.log_metrics({"loss": float(step)}, step=step)  # never raises
            clock.now += 0.6  # retried at t=1.2 (after 1 s), then the delay doubles to 2 s
        assert not sink.healthy and inner.failures == 0
        assert sink.flush()  # forced retry succeeds
    failures = [r for r in caplog.records if "No space" in r.getMessage()]
    assert len(failures) == 1 and "No space left on device" in failures[0].getMessage()
    assert sink.healthy
    assert inner.series("loss") == [(s, float(s)) for s in range(5)]  # nothing lost, in order
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_the_queue_is_bounded_while_failing(tmp_path: Path) -> None:
    inner = FlakySink(failures=10**9)
    sink = GuardedSink(inner, max_pending=100, clock=Clock())
    sink.open(SinkRun("app", "run", tmp_path))
    for step in range(1000):
        sink.log_metrics({"loss": 1.0}, step=step)
    assert sink.pending == 100
    assert sink.dropped == 900
    sink.close()  # gives up quietly, with a warning


def test_tensorboard_folder_unusable_then_fixed(tmp_path: Path) -> None:
    blocker = tmp_path / "tb"
    blocker.write_text("a file where the folder should be")
    clock = Clock()
    sink = GuardedSink(create_sink("tensorboard", log_dir=blocker / "run"), clock=clock)
    sink.open(SinkRun("app", "run", tmp_path))  # fails, reported, kept
    sink.log_metrics({"loss": 0.5}, step=1)
    assert not sink.healthy

    blocker.unlink()  # the disk problem goes away
    clock.now += 3600
    sink.log_metrics({"loss": 0.25}, step=2)
    assert sink.healthy
    sink.close()
    assert read_scalars(blocker / "run") == {"loss": [(1, 0.5), (2, 0.25)]}


def test_unknown_sink_name_lists_the_valid_ones() -> None:
    from labtrack.errors import ConfigError

    with pytest.raises(ConfigError, match="valid: aim, console, memory, mlflow, tensorboard"):
        create_sink("wandb")
