"""Bring existing runs in: TensorBoard event files, MLflow tracking stores, W&B offline runs.

Owns reading other tools' records (each through that tool's own reader: TensorBoard's record
reader and protos without TensorFlow, ``MlflowClient``, W&B's record protos) and writing them as labtrack runs. It uses
the store only through its public API (``labtrack.start_run(run_dir=...)``, ``Run``,
``labtrack.store.open_run``); the store knows nothing of it.

::

    from labtrack import importers

    report = importers.tensorboard("runs/", into="out")        # every folder holding event files
    report = importers.mlflow("sqlite:///mlflow.db", into="out")
    report = importers.wandb("wandb/", into="out")             # offline-run-* folders
    print(report)        # what was imported, what could not be carried, what failed

Design:

* A source is first read whole into a :class:`SourceRun` (scalars as numpy columns with their
  wall times, text, images, params, tags, artifacts, and counts of what labtrack cannot carry);
  one writer (``_write``) then merges it into the store, so every source gets the same
  idempotence.
* **Idempotent**: a run's directory is derived from its source identity (the event folder's
  absolute path, MLflow's run id, W&B's project and run id), and the source id is kept in the tag ``import.source``.
  Importing again reads the run back: a tag with ``n`` points gets only the source's points
  after its first ``n`` (sources are append-only logs), text, images and artifacts likewise; a
  run with nothing new is not even opened.
* Scalars keep their wall times (``Run.log_points``). Text and images get the time of import
  (the store takes no wall time for them); their steps are kept.
* One failing run (a corrupt event file, an artifact that cannot be downloaded) is reported
  with the file or URI named; every other run still imports. A source that cannot be read at
  all (an unreachable server, a missing folder) raises :class:`ImportSourceError`.
"""

from __future__ import annotations

from ._base import ImportReport, ImportSourceError, RunImport, SourceRun
from ._mlflow import mlflow
from ._tensorboard import tensorboard
from ._wandb import wandb

__all__ = [
    "ImportReport",
    "ImportSourceError",
    "RunImport",
    "SourceRun",
    "mlflow",
    "tensorboard",
    "wandb",
]
