"""Loading configs from YAML: one file, several files, imports with dot-notation overrides.

Run it from this folder (the YAML files it loads sit next to it): python yaml_configs.py
"""

import labtrack
from labtrack import load_config, sweep

# Load a single config file
config = load_config("config.yaml")
print(config)

# Load and merge multiple files (later files override earlier ones)
config = load_config(["base.yaml", "experiment.yaml", "overrides.yaml"])
print(config)

# Loading experiment.yaml automatically resolves imports
config = load_config("experiment.yaml")
# Result: {model: {hidden_size: 512, num_layers: 4}, learning_rate: 0.001, batch_size: 32}
print(config)
assert config == {
    "model": {"hidden_size": 512, "num_layers": 4},
    "learning_rate": 0.001,
    "batch_size": 32,
}


@labtrack.experiment(executor="fork")
def experiment(config):
    return {"params": config.model.hidden_size * config.model.num_layers}


@experiment.configs
def configs():
    base = load_config("configs/base.yaml")
    return sweep(
        [base],
        [
            {"name": "small", "model.hidden_size": 128},
            {"name": "large", "model.hidden_size": 1024},
        ],
    )


@experiment.report
def report(results):
    for r in results:
        print(r["name"], r["params"])


if __name__ == "__main__":
    experiment.run()
