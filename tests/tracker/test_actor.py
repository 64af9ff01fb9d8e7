from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labtrack
from labtrack import MetricConfig, PersistenceConfig, RawMetricEvent, StatsConfig, TrackerConfig
from labtrack.tracker import TrackerClient

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def make_config(root: Path, run: str) -> TrackerConfig:
    return TrackerConfig(
        app_name="app",
        run_name=run,
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(root)),
        stats=StatsConfig(
            processing_interval_seconds=0.1,
            metrics=[
                MetricConfig(name="loss", aggregation="mean", log_frequency_steps=1),
                MetricConfig(
                    name="score",
                    raw_event_name="episode_end",
                    context_key="score",
                    aggregation="sum",
                ),
            ],
        ),
    )


def test_actor_with_batching_client_counts_every_event_and_survives_bad_calls(
    ray_cluster: None, tmp_path: Path
) -> None:
    actor = labtrack.TrackerActor.options(name="tracker-a").remote(
        config=make_config(tmp_path, "a"), sinks=[]
    )
    actor.log_event.remote(RawMetricEvent(name="loss", value=1.0, global_step=1))

    @ray.remote(num_cpus=0)
    def worker(n: int) -> int:
        with TrackerClient("tracker-a", batch_size=500) as client:
            for i in range(n):
                client.log_event("episode_end", 1.0, 1, {"score": 1.0})
            with pytest.raises(TypeError, match="'value'"):
                client.log_event("loss", "bad", 1)  # type: ignore[arg-type]
            return client.sent

    assert sum(ray.get([worker.remote(3000) for _ in range(2)])) == 6000
    with TrackerClient(actor) as trainer:  # the training loop's "step 7 is done"...
        trainer.process_and_log(7)  # ...sent with its buffered events in one call
    with pytest.raises(ray.exceptions.RayTaskError, match="RawMetricEvent"):
        ray.get(actor.log_event.remote({"name": "loss"}))  # wrong type: this call fails...
    ray.get(actor.force_process_and_log.remote(1))  # ...and the actor carries on
    counts = ray.get(actor.get_counts.remote())
    assert counts["received"] == 6001
    assert counts["last_processed_step"] == 7  # the workers' step, not the 1 forced above
    assert ray.get(actor.latest_values.remote()) == {"loss": 1.0, "score": 6000.0}
    run_dir = ray.get(actor.get_run_base_dir.remote())
    ray.get(actor.shutdown.remote())
    ray.kill(actor)
    view = labtrack.Store(tmp_path).run(run_dir)
    assert view.status == "completed"
    assert view.scalars("score").values.tolist() == [6000.0]


def wait_for(actor: Any, not_pid: int = -1, timeout: float = 60) -> int:
    """The actor's pid once it answers from a process other than ``not_pid``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid = int(ray.get(actor.get_pid.remote(), timeout=10))
            if pid != not_pid:
                return pid
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        assert time.monotonic() < deadline, "the actor did not come back"
        time.sleep(0.2)


def test_killed_actor_restarts_and_continues_the_same_run(
    ray_cluster: None, tmp_path: Path
) -> None:
    actor = labtrack.TrackerActor.options(name="tracker-b", max_restarts=1).remote(
        config=make_config(tmp_path, "b"), sinks=[]
    )
    first_pid = wait_for(actor)
    for step in range(1, 6):
        actor.log_event.remote(RawMetricEvent(name="loss", value=float(step), global_step=step))
    actor.log_event.remote(
        RawMetricEvent(name="episode_end", value=1, global_step=5, context={"score": 2.0})
    )
    ray.get(actor.force_process_and_log.remote(5))
    run_dir = ray.get(actor.get_run_base_dir.remote())

    ray.kill(actor, no_restart=False)
    wait_for(actor, not_pid=first_pid)  # a new process
    counts = ray.get(actor.get_counts.remote())
    assert (counts["last_processed_step"], counts["episodes"]) == (5, 1)
    assert ray.get(actor.get_run_base_dir.remote()) == run_dir

    actor.log_event.remote(RawMetricEvent(name="loss", value=7.0, global_step=6))
    ray.get(actor.force_process_and_log.remote(6))
    ray.get(actor.shutdown.remote())
    ray.kill(actor)
    (view,) = labtrack.Store(tmp_path).runs()
    assert view.status == "completed"
    assert view.scalars("loss").steps.tolist() == [5, 6]
    assert view.scalars("loss").values.tolist() == [3.0, 7.0]
