"""Runs recorded on a Ray node that cannot see the driver's store land in that store: a user's
own task, the runner's Ray executor, and the faults (a killed writer, a stopped node)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import labtrack
from labtrack.store import open_run

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


class Trainer:
    """A training loop on whichever node Ray places it, recording into ``store``."""

    def start(self, store: str, name: str) -> dict[str, Any]:
        self.run = labtrack.start_run("exp", name=name, dir=store, config={"seed": 1})
        self.step = 0
        return {"dir": str(self.run.dir), "pid": os.getpid()}

    def train(self, steps: int) -> int:
        for _ in range(steps):
            self.run.log({"loss": 1.0 / (self.step + 1), "reward": float(self.step)}, self.step)
            self.step += 1
        self.run.flush()
        return self.step

    def train_for(self, seconds: float) -> int:
        end = time.time() + seconds
        while time.time() < end:
            self.train(100)
            time.sleep(0.01)
        return self.step

    def finish(self) -> dict[str, Any]:
        self.run.log_text("summary", "done")
        self.run.finish()
        local = Path(self.run.dir, ".labtrack", "data.ltr")
        return {"output": type(self.run._output).__name__, "local_data": local.exists()}


def on_worker(cluster: Any) -> Any:
    """``Trainer`` as a Ray actor class placed on the worker node (made in this Ray session:
    an actor class first used in an earlier session of this process can be refused)."""
    return ray.remote(num_cpus=0, **cluster.on_worker)(Trainer)


def test_a_task_on_a_node_without_the_store_records_into_the_drivers_store_live(
    isolated_cluster: Any,
) -> None:
    store = isolated_cluster.store_dir
    labtrack.serve_store(store)
    trainer = on_worker(isolated_cluster).remote()
    started = ray.get(trainer.start.remote(str(store), "live"), timeout=180)
    ray.get(trainer.train.remote(5_000), timeout=180)

    # Live: the driver's store, and its viewer, see the run while it is being recorded.
    running = open_run(started["dir"])
    assert running.status == "running"
    assert len(running.scalars("loss").steps) == 5_000
    rows = _viewer_get(store, "/api/runs")["runs"]
    assert [(r["name"], r["status"]) for r in rows] == [("live", "running")]

    ray.get(trainer.train.remote(5_000), timeout=180)
    finished = ray.get(trainer.finish.remote(), timeout=180)
    assert finished == {"output": "RemoteOutput", "local_data": False}
    run = open_run(started["dir"])
    assert run.status == "completed" and run.config == {"seed": 1}
    loss = run.scalars("loss")
    assert list(loss.steps) == list(range(10_000))
    assert np.array_equal(loss.values, (1.0 / (np.arange(10_000) + 1)).astype(loss.values.dtype))
    assert [t.text for t in run.text("summary")] == ["done"]


def test_the_ray_executor_brings_back_every_file_of_a_config_run_on_another_node(
    isolated_cluster: Any,
) -> None:
    store = isolated_cluster.store_dir / "sweeps"
    here = isolated_cluster.worker_node_id

    @labtrack.experiment(name="placed", executor="ray", output_dir=store, timestamp=False)
    def placed(config: Any) -> dict[str, Any]:
        labtrack.current_run().log({"x": float(config.x)}, step=0)
        Path(config.out, "own.txt").write_text(f"x={config.x}")
        print("printed on", ray.get_runtime_context().get_node_id())
        return {"node": ray.get_runtime_context().get_node_id()}

    configs = [{"name": f"x{x}", "x": x, "_ray": isolated_cluster.on_worker} for x in range(2)]
    results = placed.run(configs=configs, argv=[])

    assert [r["node"] for r in results] == [here, here]
    for x in range(2):
        out = Path(results[f"x{x}"]["config"].out)
        assert out.is_relative_to(store)
        assert (out / "own.txt").read_text() == f"x={x}"
        assert (out / "result.pkl").exists()
        assert f"printed on {here}" in (out / "stdout.log").read_text()
        view = open_run(out)
        assert view.status == "completed"
        assert list(view.scalars("x").values) == [float(x)]


def test_a_killed_remote_writer_reads_crashed_with_everything_acknowledged(
    isolated_cluster: Any,
) -> None:
    store = isolated_cluster.store_dir
    labtrack.serve_store(store)
    trainer = on_worker(isolated_cluster).remote()
    started = ray.get(trainer.start.remote(str(store), "killed"), timeout=180)
    acknowledged = ray.get(trainer.train.remote(3_000), timeout=180)  # flush() returned
    trainer.train_for.remote(60)
    time.sleep(1)
    os.kill(started["pid"], signal.SIGKILL)  # one pid namespace: the node's process is visible

    run = _wait_for_status(started["dir"], "crashed")
    steps = list(run.scalars("loss").steps)
    assert steps == list(range(len(steps)))  # a prefix: no gap, no duplicate
    assert len(steps) >= acknowledged


def test_a_stopped_node_leaves_its_runs_crashed_with_everything_acknowledged(
    isolated_cluster: Any,
) -> None:
    store = isolated_cluster.store_dir
    labtrack.serve_store(store)
    trainer = on_worker(isolated_cluster).remote()
    started = ray.get(trainer.start.remote(str(store), "node-stopped"), timeout=180)
    acknowledged = ray.get(trainer.train.remote(3_000), timeout=180)
    trainer.train_for.remote(60)
    time.sleep(1)
    isolated_cluster.stop_worker_node(kill=True)
    try:
        run = _wait_for_status(started["dir"], "crashed")
        steps = list(run.scalars("loss").steps)
        assert steps == list(range(len(steps)))
        assert len(steps) >= acknowledged
    finally:
        isolated_cluster.start_worker_node()


def _wait_for_status(run_dir: str, status: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while open_run(run_dir).status != status and time.monotonic() < deadline:
        time.sleep(0.2)
    run = open_run(run_dir)
    assert run.status == status
    return run


def _viewer_get(store: Path, path: str) -> Any:
    """What the viewer of ``store`` answers to ``GET path`` (the app itself, in process)."""
    import asyncio

    import httpx

    from labtrack.viewer.app import create_app

    async def get() -> Any:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.get(path)
            response.raise_for_status()
            return response.json()

    return asyncio.run(get())


def test_a_node_without_the_store_fetches_a_runs_files(isolated_cluster: Any) -> None:
    from labtrack.cluster import fetch_folder

    store = isolated_cluster.store_dir
    labtrack.serve_store(store)
    run_dir = store / "exp" / "resumed-elsewhere"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "latest.pt").write_bytes(b"w" * 9_000_000)  # two chunks

    @ray.remote(num_cpus=0, **isolated_cluster.on_worker)
    def fetch(folder: str) -> tuple[bool, int, int]:
        seen_before = Path(folder, "checkpoints", "latest.pt").exists()
        copied = fetch_folder(folder)
        return seen_before, copied, Path(folder, "checkpoints", "latest.pt").stat().st_size

    assert ray.get(fetch.remote(str(run_dir)), timeout=180) == (False, 1, 9_000_000)


def test_a_tracker_actor_on_a_node_without_the_store_records_and_resumes_there(
    isolated_cluster: Any,
) -> None:
    from labtrack import PersistenceConfig, RawMetricEvent, TrackerConfig

    store = isolated_cluster.store_dir / "tracker"
    config = TrackerConfig(
        app_name="app",
        run_name="remote-tracker",
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(store)),
    )
    actor = labtrack.TrackerActor.options(**isolated_cluster.on_worker).remote(config, sinks=[])
    assert ray.get(actor.get_pid.remote(), timeout=180)  # it started, on the worker node
    for step in range(1, 51):
        actor.log_event.remote(
            RawMetricEvent(name="Loss/Total", value=1.0 / step, global_step=step)
        )
    ray.get(actor.force_process_and_log.remote(50), timeout=180)
    ray.get(
        actor.save_training_state.remote(
            nn_state_dict={"w": [1.0, 2.0]},
            optimizer_state_dict={"lr": 0.1},
            buffer_content=[1, 2, 3],
            save_buffer=True,
            global_step=50,
        ),
        timeout=180,
    )
    run_dir = Path(ray.get(actor.get_run_base_dir.remote(), timeout=180))
    ray.get(actor.shutdown.remote(), timeout=180)
    ray.kill(actor)

    assert run_dir.is_relative_to(store)
    run = open_run(run_dir)
    assert run.status == "completed"
    assert run.scalars("Loss/Total").steps[-1] == 50  # aggregated by the default rules
    saved = {p.relative_to(run_dir).parts[0] for p in run_dir.rglob("*.pkl")}
    assert {"checkpoints", "buffers"} <= saved, sorted(p.name for p in run_dir.rglob("*"))

    # Resumed on the worker node again (whose copy of the files is gone): it reads them back.
    isolated_cluster.stop_worker_node()
    isolated_cluster.start_worker_node()
    again = labtrack.TrackerActor.options(**isolated_cluster.on_worker).remote(config, sinks=[])
    loaded = ray.get(again.load_initial_state.remote(), timeout=180)
    assert loaded.checkpoint_data is not None and loaded.checkpoint_data.global_step == 50
    assert loaded.buffer_data is not None and list(loaded.buffer_data.buffer_list) == [1, 2, 3]
    ray.get(again.shutdown.remote(), timeout=180)
