"""Alternative API: pass configs and report functions to run() directly."""

import labtrack


@labtrack.experiment(executor="fork")
def experiment(config):
    return {"loss": 1 / config.steps}


def my_configs_fn():
    return [{"name": f"s{n}", "steps": n} for n in (10, 100)]


def my_report_fn(results):
    for r in results:
        print(r["name"], r["loss"])


if __name__ == "__main__":
    experiment.run(configs=my_configs_fn, report=my_report_fn)
