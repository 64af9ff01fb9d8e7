"""Each config gets `config.out`, its run directory: save artifacts there."""

import torch

import labtrack
from labtrack import Config


def train(config):
    return torch.nn.Linear(config.width, 1)


@labtrack.experiment
def experiment(config: Config):
    model = train(config)
    torch.save(model, config.out / "model.pt")
    return {"accuracy": 0.95}


@experiment.configs
def configs():
    return [{"name": "small", "width": 4}, {"name": "wide", "width": 64}]


@experiment.report
def report(results):
    for r in results:
        print(r["name"], sorted(p.name for p in r["config"].out.iterdir() if p.suffix == ".pt"))


if __name__ == "__main__":
    experiment.run()
