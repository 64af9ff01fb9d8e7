"""Output folders: default name + timestamp, custom name without timestamp, runtime override."""

import labtrack


# Default: uses function name, with timestamp
@labtrack.experiment
def my_experiment(config): ...


# -> out/my_experiment/2024-01-25_14-30-00/<config>-<hash>/


@my_experiment.configs
def configs():
    return [{"name": "a", "x": 1}]


my_experiment.run(executor="inline")


# Custom name, no timestamp (overwrites previous runs)
@labtrack.experiment(name="mnist", timestamp=False)
def my_experiment(config): ...


# -> out/mnist/<config>-<hash>/


experiment = my_experiment
experiment.run(configs=[{"name": "a", "x": 1}], executor="inline")

# Override at runtime
experiment.run(configs=[{"name": "a", "x": 1}], name="experiment_v2", timestamp=False)

from pathlib import Path

for path in sorted(Path("out").glob("**/result.pkl")):
    print(path.parent)
