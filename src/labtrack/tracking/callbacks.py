"""The document's import path of the Stable-Baselines3 callback
(:class:`labtrack.integrations.sb3.TrackingCallback`); importing it imports SB3."""

from __future__ import annotations

from ..integrations.sb3 import TrackingCallback

__all__ = ["TrackingCallback"]
