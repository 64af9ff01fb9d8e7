"""Every tracking test starts with no ``configure_*`` call and no ``ML_*`` variable set."""

from __future__ import annotations

import os

import pytest

from labtrack.tracking import reset_configuration

_VARS = (
    "ML_TRACKING_BACKEND",
    "ML_STORAGE_PATH",
    "ML_EXPERIMENT_NAME",
    "AIM_REPO_PATH",
    "MLFLOW_TRACKING_URI",
)


@pytest.fixture(autouse=True)
def _clean_tracking(monkeypatch: pytest.MonkeyPatch):
    for key in _VARS:
        if key in os.environ:
            monkeypatch.delenv(key)
    reset_configuration()
    yield
    reset_configuration()
