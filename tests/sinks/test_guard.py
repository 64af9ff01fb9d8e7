from __future__ import annotations

import logging
import threading
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


class SlowOpeningSink(MemorySink):
    """Its ``open`` waits until the test lets it go, as MLflow's import and database set-up keep
    a mirror opening for a minute on a loaded machine."""

    def __init__(self) -> None:
        super().__init__()
        self.opening = threading.Event()
        self.release = threading.Event()

    def open(self, run: SinkRun) -> str | None:
        self.opening.set()
        assert self.release.wait(120), "the test never let the open finish"
        return super().open(run)


def open_in_background(sink: GuardedSink, run: SinkRun) -> threading.Thread:
    opener = threading.Thread(target=sink.open, args=(run,), daemon=True)
    opener.start()
    return opener


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


def test_calls_made_while_another_thread_opens_the_sink_are_queued_and_sent_in_order(
    tmp_path: Path,
) -> None:
    inner = SlowOpeningSink()
    sink = GuardedSink(inner)
    sink.log_params({"lr": 0.1})  # before open: queued
    opener = open_in_background(sink, SinkRun("app", "run", tmp_path))
    assert inner.opening.wait(60)
    for step in range(3):  # each returns at once, although the open has not returned
        sink.log_metrics({"loss": float(step)}, step=step)
    assert not sink.flush(timeout=0)  # does not wait for the opening thread
    assert (sink.pending, sink.opened, inner.metrics) == (4, False, [])

    inner.release.set()
    opener.join(60)
    assert sink.opened and sink.backend_id == "memory-run"
    assert inner.params == {"lr": 0.1}
    assert inner.series("loss") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    sink.log_metrics({"loss": 3.0}, step=3)  # open now: sent by the caller itself
    assert sink.flush() and inner.series("loss")[-1] == (3, 3.0)
    sink.close()
    assert inner.closed


def test_a_full_queue_drops_the_oldest_metrics_but_keeps_params_and_artifacts(
    tmp_path: Path,
) -> None:
    artifact = tmp_path / "configs.json"
    artifact.write_text("{}")
    inner = MemorySink()
    sink = GuardedSink(inner, max_pending=10)
    sink.log_params({"lr": 0.1})
    sink.log_artifact(artifact, name="configs")
    for step in range(100):  # not open yet: everything waits in the queue
        sink.log_metrics({"loss": float(step)}, step=step)
    assert (sink.pending, sink.dropped) == (10, 92)
    sink.open(SinkRun("app", "run", tmp_path))
    assert inner.params == {"lr": 0.1}
    assert inner.artifacts == [(artifact, "configs")]
    assert inner.series("loss") == [(s, float(s)) for s in range(92, 100)]  # the newest


def test_a_close_that_stops_waiting_names_what_is_not_mirrored_and_the_open_finishes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = SlowOpeningSink()
    sink = GuardedSink(inner)
    sink.log_params({"lr": 0.1})
    opener = open_in_background(sink, SinkRun("app", "run", tmp_path))
    assert inner.opening.wait(60)
    sink.log_metrics({"loss": 1.0}, step=1)
    sink.log_metrics({"loss": 2.0}, step=7)
    with caplog.at_level(logging.INFO, logger="labtrack.sinks._guard"):
        sink.close(timeout=0)  # returns although the open has not
        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert "was still opening when close() stopped waiting" in warning.getMessage()
        assert "3 calls (2 log_metrics (steps 1-7), 1 log_params) not mirrored" in (
            warning.getMessage()
        )
        assert not inner.closed

        inner.release.set()  # the open returns while the process lives: sent, then closed
        opener.join(60)
    assert inner.series("loss") == [(1, 1.0), (7, 2.0)] and inner.params == {"lr": 0.1}
    assert inner.closed and not sink.opened
    assert any("everything was sent" in r.getMessage() for r in caplog.records)
    sink.close()  # twice: harmless


def test_a_sink_made_by_a_function_is_made_by_the_thread_that_opens_it(tmp_path: Path) -> None:
    made_on: list[str] = []

    def make() -> MemorySink:
        made_on.append(threading.current_thread().name)
        return MemorySink()

    sink = GuardedSink(make, name="memory")
    sink.log_params({"lr": 0.1})  # queued under the name before the sink exists
    assert (sink.name, sink.sink, made_on) == ("memory", None, [])
    opener = threading.Thread(target=sink.open, args=(SinkRun("app", "run", tmp_path),))
    opener.start()
    opener.join(60)
    assert made_on == [opener.name]
    assert isinstance(sink.sink, MemorySink) and sink.sink.params == {"lr": 0.1}
    sink.close()
    with pytest.raises(TypeError, match="name="):
        GuardedSink(make)


def test_a_function_that_cannot_make_the_sink_is_reported_like_a_failed_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = GuardedSink(lambda: create_sink("wandb"), name="wandb")
    with caplog.at_level(logging.WARNING, logger="labtrack.sinks._guard"):
        sink.open(SinkRun("app", "run", tmp_path))  # never raises
        sink.log_metrics({"loss": 1.0}, step=1)
        sink.close()
    assert not sink.healthy and sink.failures == 2  # the open, and the last try of close
    messages = [r.getMessage() for r in caplog.records]
    assert "unknown sink 'wandb'" in messages[0]
    assert "closed with 1 calls (1 log_metrics (steps 1-1))" in messages[1]
