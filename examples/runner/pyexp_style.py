"""A pyexp script, written against pyexp's API; only the import changed (``import pyexp`` and
``from pyexp import ...`` became labtrack).

It uses what pyexp code does beyond the seed document: an experiment taking ``(config,
logger)``, ``report(results, out)`` with ``Result`` attributes (``r.result``, ``r.error``,
``r.log``), flat integer indexing of the results, ``build`` with positional constructor
arguments, ``retry``, checkpoints read back with ``LogReader``, and the report's value returned
by ``run()``. Try ``python pyexp_style.py --list``, ``--filter 'lr0.1'``, ``--continue``,
``--report`` (a sweep with a failed config exits with status 1 after its report).
"""

import sys

import labtrack as pyexp
from labtrack import Config, LogReader, build, register, sweep


@register
class Optimizer:
    def __init__(self, params, lr: float = 0.001):
        self.params = params
        self.lr = lr


@pyexp.experiment(name="pyexp_style", executor="subprocess", retry=1)
def exp(config: Config, logger):
    opt = build(Optimizer, config.optimizer, ["w1", "w2"])  # positional args go first
    if config.get("flaky") and not (config.out / "tried").exists():
        (config.out / "tried").touch()
        raise RuntimeError("transient failure")  # the retry runs it again
    loss = 1.0
    for it in range(5):
        logger.set_global_it(it)
        loss *= 1 - opt.lr
        logger.add_scalar("loss", loss)
        logger.add_checkpoint("model", {"it": it, "params": opt.params})
    print(f"trained {config.name}")
    return loss  # not a dict: under r.result


@exp.configs
def configs():
    cfgs = [{"name": "exp", "optimizer": {"type": "Optimizer", "lr": 0.01}}]
    cfgs = sweep(cfgs, [{"name": "lr0.1", "optimizer.lr": 0.1}, {"name": "lr0.01"}])
    return sweep(cfgs, [{"name": "ok"}, {"name": "flaky", "flaky": True}])


@exp.report
def report(results, out):
    print("shape", results.shape, "first", results[0].name)  # results[0]: flat index
    for r in results:
        if r.error:
            print(f"{r.name}: failed: {r.error}")
        else:
            reader = LogReader(r.out)
            last_it, ckpt = reader["model"]
            print(f"{r.name}: loss={r.result:.4f} checkpoint@{last_it}={ckpt['it']}")
            print(f"  printed: {r.log.splitlines()[0]!r}, tries: {r.get('tries', 1)}")
    (out / "summary.txt").write_text(f"{sum(1 for r in results if not r.error)} ok\n")
    return {r.name: r.result for r in results if not r.error}


if __name__ == "__main__":
    losses = exp.run()
    print("returned", sorted(losses), file=sys.stderr)
