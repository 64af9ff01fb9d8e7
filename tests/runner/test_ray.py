from __future__ import annotations

import os

import pytest

import labtrack
from labtrack import RayExecutor

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_runs_configs_as_tasks_and_records_runs(ray_session, tmp_path):
    @labtrack.experiment(name="on_ray", executor="ray", timestamp=False)
    def square(config):
        labtrack.current_run().log({"x": config.x}, step=0)
        print("on a ray worker")
        if config.x == 3:
            os._exit(5)  # kills the Ray worker: an error record, the sweep goes on
        return {"square": config.x**2, "pid": os.getpid()}

    results = square.run(configs=[{"name": f"x{x}", "x": x} for x in range(4)], argv=[])
    assert [r.get("square") for r in results[:3]] == [0, 1, 4]
    assert all(r["pid"] != os.getpid() for r in results[:3])
    crashed = results["x3"]
    assert crashed["__error__"] and crashed["type"] == "WorkerCrashed"
    statuses = {v.name: v.status for v in labtrack.Store("out").runs()}
    assert statuses == {"x0": "completed", "x1": "completed", "x2": "completed", "x3": "failed"}
    view = labtrack.Store("out").run(results["x0"]["config"].out)
    assert "on a ray worker" in view.text("stdout")[0].text


def test_ray_executor_instance_with_resources_and_cache(ray_session, tmp_path):
    @labtrack.experiment(timestamp=False)
    def ident(config):
        return {"x": config.x}

    executor = RayExecutor(num_cpus=1, num_gpus=0)
    cfgs = [{"name": "a", "x": 1}, {"name": "b", "x": 2}]
    assert [r["x"] for r in ident.run(configs=cfgs, executor=executor, argv=[])] == [1, 2]
    again = ident.run(configs=cfgs, executor=executor, argv=[])  # all cached: Ray is not asked
    assert [r["x"] for r in again] == [1, 2]


def test_ray_a_config_that_raises_or_dies_says_why(ray_session, tmp_path):
    @labtrack.experiment(name="why", executor="ray", timestamp=False)
    def fragile(config):
        if config.mode == "raise":
            raise ValueError("bad lr on ray")
        os._exit(3)

    fragile.run(
        configs=[{"name": "raise", "mode": "raise"}, {"name": "exit", "mode": "exit"}], argv=[]
    )
    runs = {v.name: v for v in labtrack.Store("out").runs()}

    raised = runs["raise"]
    assert raised.status == "failed"
    assert str(raised.error) == "ValueError: bad lr on ray"
    assert f'File "{__file__}"' in raised.error.traceback
    assert raised.error.traceback in (raised.dir / "stderr.log").read_text()

    died = runs["exit"]
    assert died.status == "failed"
    assert died.error.type == "WorkerCrashed" and "the worker process died" in died.error.message
    assert "labtrack: WorkerCrashed:" in (died.dir / "stderr.log").read_text()


def test_ray_task_options_come_from_the_executor_then_from_each_configs_ray_key() -> None:
    executor = RayExecutor(num_cpus=1, resources={"tagged_node": 1}, max_retries=2)
    assert executor.task_options({"x": 1}) == {
        "num_cpus": 1,
        "num_gpus": 0,
        "max_retries": 2,
        "resources": {"tagged_node": 1},
    }
    own = executor.task_options({"x": 1, "_ray": {"num_gpus": 1, "scheduling_strategy": "SPREAD"}})
    assert own["num_gpus"] == 1 and own["scheduling_strategy"] == "SPREAD"
    with pytest.raises(ValueError, match="config key '_ray' has unknown Ray task option.*'gpus'"):
        executor.task_options({"_ray": {"gpus": 1}})
    with pytest.raises(ValueError, match="must be a mapping"):
        executor.task_options({"_ray": 1})
