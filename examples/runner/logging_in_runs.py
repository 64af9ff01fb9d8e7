"""Log metrics, text, figures and artifacts into the config's own run while it runs."""

import labtrack


@labtrack.experiment(name="logging_demo")
def experiment(config):
    run = labtrack.current_run()  # this config's run: its directory is config.out
    for step in range(20):
        run.log({"loss": 1.0 / (step + 1) * config.scale}, step=step)
    run.log_text("notes", f"scale={config.scale}")
    (config.out / "weights.txt").write_text("0.1 0.2 0.3\n")
    run.log_artifact(config.out / "weights.txt", kind="model")
    print("training done")  # captured into stdout.log and the run's "stdout" text
    return {"final_loss": 1.0 / 20 * config.scale}


@experiment.configs
def configs():
    return [{"name": "a", "scale": 1.0}, {"name": "b", "scale": 2.0}]


@experiment.report
def report(results):
    store = labtrack.Store("out")
    for view in store.runs(experiment="logging_demo"):
        print(view.name, view.status, view.scalar_tags, view.text_tags)


if __name__ == "__main__":
    experiment.run()
