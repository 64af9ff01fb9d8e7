"""Distributed execution with Ray: a local Ray here; the cluster forms are shown as written."""

import labtrack
from labtrack import RayExecutor


@labtrack.experiment(name="ray_demo")
def experiment(config):
    return {"square": config.x**2}


@experiment.configs
def configs():
    return [{"name": f"x{x}", "x": x} for x in range(4)]


@experiment.report
def report(results):
    print("squares:", [r["square"] for r in results])


if __name__ == "__main__":
    import ray

    ray.init(num_cpus=2, include_dashboard=False)  # a small local Ray for this example

    # Local Ray execution
    experiment.run(executor="ray")

    # Remote cluster execution needs a cluster; these are the executors it would use:
    remote = labtrack.get_executor("ray://cluster:10001")
    auto = labtrack.get_executor("ray:auto")  # Connect to existing cluster
    executor = RayExecutor(
        address="ray://cluster:10001",
        runtime_env={
            "working_dir": ".",  # Sync current directory to workers
            "excludes": ["data/", "*.pt"],  # Don't upload large files
            "pip": ["pandas", "numpy"],  # Install packages on workers
        },
        num_cpus=4,
        num_gpus=1,
    )
    print(remote, auto, executor, sep="\n")

    # The same instance API on the local Ray: one CPU per config
    experiment.run(executor=RayExecutor(num_cpus=1))
