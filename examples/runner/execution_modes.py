"""Execution modes: the executor set in the decorator, overridden at run time."""

import os

import labtrack


@labtrack.experiment(executor="subprocess")  # Default: isolated subprocess
def in_subprocess(config):
    return {"pid": os.getpid()}


@labtrack.experiment(executor="fork")  # Unix only: fast, same module state
def in_fork(config):
    return {"pid": os.getpid()}


@labtrack.experiment(executor="inline")  # No isolation, useful for debugging
def inline(config):
    return {"pid": os.getpid()}


configs = [{"name": "a", "x": 1}, {"name": "b", "x": 2}]
if __name__ == "__main__":
    for experiment in (in_subprocess, in_fork, inline):
        results = experiment.run(configs=configs)
        where = "this process" if results[0]["pid"] == os.getpid() else "a child process"
        print(f"{experiment.name}: ran in {where}")

    experiment = in_subprocess
    experiment.run(configs=configs, executor="inline")  # Debug mode
