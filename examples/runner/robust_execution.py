"""Robust execution: a crash (exception, os._exit, segfault) fails only its own config."""

import ctypes
import os

import labtrack


@labtrack.experiment
def experiment(config):
    if config.mode == "raise":
        raise ValueError("diverged")
    if config.mode == "exit":
        os._exit(3)
    if config.mode == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return {"accuracy": 0.9}


@experiment.configs
def configs():
    return [{"name": m, "mode": m} for m in ("ok", "raise", "exit", "segfault")]


@experiment.report
def report(results):
    for r in results:
        if r.get("__error__"):
            print(f"{r['name']} failed: {r['type']}: {r['message']}")
        else:
            print(f"{r['name']}: {r['accuracy']}")


if __name__ == "__main__":
    experiment.run()
