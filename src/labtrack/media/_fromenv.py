"""Recorders built from environment variables, with the document's names and defaults.

Each setting has the document's ``OAK_EXAMPLE_*`` variable and a ``LABTRACK_*`` equivalent that
wins when both are set. Variables are read when a builder is called, never at import. An empty
value means the default (as in the document); a value that is not a number (``EVERY=ten``) or is
negative is a :class:`~labtrack.errors.ConfigError` naming the variable.

These names belong with the others in ``labtrack/_env.py``; they are here until that module
gathers them.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ._animation import EpisodeAnimationRecorder
from ._curves import TrainingCurveRecorder
from ._schedule import EpisodeCaptureSchedule

DEFAULT_ANIMATION_OUTPUT_DIR = Path("tests/results/animations")
DEFAULT_ANIMATION_EVERY = 100
DEFAULT_ANIMATION_LAST = 1
DEFAULT_ANIMATION_FPS = 30
DEFAULT_ANIMATION_MAX_FRAMES = 400
DEFAULT_CURVE_OUTPUT_DIR = Path("tests/results/training_curves")
DEFAULT_CURVE_CHECKPOINT_EVERY = 10

#: setting -> (the document's variable, labtrack's, which wins)
VARIABLES = {
    "disable_animations": ("OAK_EXAMPLE_DISABLE_ANIMATIONS", "LABTRACK_DISABLE_ANIMATIONS"),
    "animation_dir": ("OAK_EXAMPLE_ANIMATION_DIR", "LABTRACK_ANIMATION_DIR"),
    "animation_episodes": ("OAK_EXAMPLE_ANIMATION_EPISODES", "LABTRACK_ANIMATION_EPISODES"),
    "animation_every": ("OAK_EXAMPLE_ANIMATION_EVERY", "LABTRACK_ANIMATION_EVERY"),
    "animation_last": ("OAK_EXAMPLE_ANIMATION_LAST", "LABTRACK_ANIMATION_LAST"),
    "animation_fps": ("OAK_EXAMPLE_ANIMATION_FPS", "LABTRACK_ANIMATION_FPS"),
    "animation_max_frames": ("OAK_EXAMPLE_ANIMATION_MAX_FRAMES", "LABTRACK_ANIMATION_MAX_FRAMES"),
    "disable_curves": ("OAK_EXAMPLE_DISABLE_CURVES", "LABTRACK_DISABLE_CURVES"),
    "curve_dir": ("OAK_EXAMPLE_CURVE_DIR", "LABTRACK_CURVE_DIR"),
    "plot_dir": ("OAK_EXAMPLE_PLOT_DIR", "LABTRACK_PLOT_DIR"),
    "curve_checkpoint_every": (
        "OAK_EXAMPLE_CURVE_CHECKPOINT_EVERY",
        "LABTRACK_CURVE_CHECKPOINT_EVERY",
    ),
}
_TRUE = {"1", "true", "yes", "on"}


def _raw(setting: str) -> tuple[str, str]:
    """(variable name, stripped value) of the variable that decides ``setting``; '' when unset."""
    document, ours = VARIABLES[setting]
    for name in (ours, document):
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return ours, ""


def _flag(setting: str) -> bool:
    return _raw(setting)[1].lower() in _TRUE


def _count(setting: str, default: int, *, positive: bool = False) -> int:
    name, value = _raw(setting)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
    if number < (1 if positive else 0):
        raise ConfigError(f"{name}={value!r} must be {'> 0' if positive else '>= 0'}")
    return number


def _episodes(setting: str) -> tuple[int, ...]:
    name, value = _raw(setting)
    try:
        return tuple(int(token.strip()) for token in value.split(",") if token.strip())
    except ValueError:
        raise ConfigError(
            f"{name}={value!r} must be comma-separated episode numbers, like '0,10,99'"
        ) from None


def animation_recorder_from_env(mode: str) -> EpisodeAnimationRecorder | None:
    """Build an animation recorder from env vars with sensible defaults.

    Animation capture is enabled by default so that long runs leave visual artifacts behind;
    ``OAK_EXAMPLE_DISABLE_ANIMATIONS=1`` (or ``LABTRACK_DISABLE_ANIMATIONS=1``) turns it off.
    Files go to ``<ANIMATION_DIR or tests/results/animations>/<mode>``; every 100th and the
    last episode are captured at 30 fps, at most 400 frames each (``EVERY``, ``LAST``,
    ``EPISODES``, ``FPS``, ``MAX_FRAMES``; 0 turns ``EVERY`` and ``MAX_FRAMES`` off).
    """
    if _flag("disable_animations"):
        return None
    output_dir = _raw("animation_dir")[1] or str(DEFAULT_ANIMATION_OUTPUT_DIR)
    every_n = _count("animation_every", DEFAULT_ANIMATION_EVERY)
    max_frames = _count("animation_max_frames", DEFAULT_ANIMATION_MAX_FRAMES)
    return EpisodeAnimationRecorder(
        output_dir=Path(output_dir) / mode,
        schedule=EpisodeCaptureSchedule(
            episode_indices=_episodes("animation_episodes"),
            every_n_episodes=every_n or None,
            last_n_episodes=_count("animation_last", DEFAULT_ANIMATION_LAST),
        ),
        prefix=mode,
        fps=_count("animation_fps", DEFAULT_ANIMATION_FPS, positive=True),
        max_frames=max_frames or None,
    )


def curve_recorder_from_env(mode: str, *, average_window: int) -> TrainingCurveRecorder | None:
    """Build a curve recorder from env vars with sensible defaults.

    Curve capture is enabled by default so short training runs still write the SVG/JSON
    artifacts; ``OAK_EXAMPLE_DISABLE_CURVES=1`` (or ``LABTRACK_DISABLE_CURVES=1``) turns it
    off. Files go to ``<CURVE_DIR or PLOT_DIR or tests/results/training_curves>/<mode>``, with a
    checkpoint every ``CURVE_CHECKPOINT_EVERY`` (10) episodes.
    """
    if _flag("disable_curves"):
        return None
    output_dir = _raw("curve_dir")[1] or _raw("plot_dir")[1] or str(DEFAULT_CURVE_OUTPUT_DIR)
    return TrainingCurveRecorder(
        output_dir=Path(output_dir) / mode,
        prefix=mode,
        average_window=average_window,
        checkpoint_every=_count("curve_checkpoint_every", DEFAULT_CURVE_CHECKPOINT_EVERY),
    )
