"""Parameter sweeps, dot notation in sweeps, result filtering and tensor indexing."""

import labtrack
from labtrack import sweep


@labtrack.experiment(executor="fork")
def experiment(config):
    return {"accuracy": 1.0 - config.learning_rate + config.epochs / 1000}


@experiment.configs
def configs():
    cfgs = [{"name": "exp", "base_lr": 0.01, "mlp": {"width": 32, "depth": 2}}]

    # Sweep over learning rates
    cfgs = sweep(
        cfgs,
        [
            {"name": "lr0.1", "learning_rate": 0.1},
            {"name": "lr0.01", "learning_rate": 0.01},
        ],
    )

    # Sweep over epochs (creates 2x2 = 4 configs)
    cfgs = sweep(
        cfgs,
        [
            {"name": "e10", "epochs": 10},
            {"name": "e100", "epochs": 100},
        ],
    )

    # Dot notation: only updates width, keeps depth
    cfgs = sweep(
        cfgs,
        [
            {"name": "w64", "mlp.width": 64},
            {"name": "w128", "mlp.width": 128},
        ],
    )

    return cfgs  # Shape: (1, 2, 2, 2), names: exp_lr0.1_e10_w64, ...


@experiment.report
def report(results):
    # Pattern matching on name (glob-style)
    lr01_results = results["exp_lr0.1_*"]  # All with lr0.1
    epoch10_results = results["*_e10_*"]  # All with e10
    print("lr0.1:", [r["name"] for r in lr01_results])
    print("e10:", [r["name"] for r in epoch10_results])

    # Dict matching on config values
    lr01_results = results[{"config.learning_rate": 0.1}]

    # Multiple constraints
    specific = results[{"config.learning_rate": 0.1, "config.epochs": 10}]
    print("lr0.1 & e10:", [r["name"] for r in specific])

    # Nested config access
    wide_results = results[{"config.mlp.width": 128}]
    print("wide:", [(r["name"], r["config"]["mlp"]) for r in wide_results][:2])

    # Shape is (1, 2, 2, 2) from sweeps
    print(results.shape)

    # Index by position
    first_lr = results[:, 0, :]  # All configs with first lr value
    print("first lr:", first_lr.shape, [r["name"] for r in first_lr])

    # Access individual result
    r = results[0, 1, 0, 1]
    print(r["name"], r["accuracy"])

    print(results.to_pandas()[["name", "config.learning_rate", "config.epochs", "accuracy"]])


if __name__ == "__main__":
    experiment.run()
