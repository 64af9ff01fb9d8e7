"""Custom executors: subclass Executor and decide where `fn(config)` runs."""

import pickle

import labtrack
from labtrack import Executor


class MyExecutor(Executor):
    def run(self, fn, config, result_path):
        # Custom execution logic
        result = fn(config)
        with open(result_path, "wb") as f:
            pickle.dump(result, f)
        return result


@labtrack.experiment
def experiment(config):
    return {"double": 2 * config.x}


@experiment.configs
def configs():
    return [{"name": f"x{x}", "x": x} for x in range(3)]


@experiment.report
def report(results):
    print([r["double"] for r in results])


if __name__ == "__main__":
    experiment.run(executor=MyExecutor())
