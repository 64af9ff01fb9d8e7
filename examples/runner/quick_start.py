"""Quick start: two configs, cached results, a report with a config query.

python quick_start.py                      # runs both configs (new timestamp)
python quick_start.py --timestamp <ts>     # continues that run: nothing left to do
python quick_start.py --executor inline --no-timestamp --output-dir results/
"""

import labtrack
from labtrack import Config


@labtrack.experiment(name="mnist")
def experiment(config: Config):
    lr = config.learning_rate
    epochs = config.epochs
    # Run your experiment...
    return {"accuracy": 0.95}


@experiment.configs
def configs():
    return [
        {"name": "fast", "learning_rate": 0.01, "epochs": 10},
        {"name": "slow", "learning_rate": 0.001, "epochs": 100},
    ]


@experiment.report
def report(results):
    # Each result contains 'name', 'config', and experiment outputs
    for r in results:
        print(f"{r['name']}: {r['accuracy']}")

    # Filter by config values
    fast_results = results[{"config.learning_rate": 0.01}]  # one match: that result
    print("fast:", fast_results["name"])


if __name__ == "__main__":
    experiment.run()
