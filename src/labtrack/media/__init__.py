"""Episode animations, training curves and capture schedules, into files and into the run.

>>> from labtrack.media import EpisodeCaptureSchedule
>>> EpisodeCaptureSchedule(every_n_episodes=100, last_n_episodes=1).should_capture(200, 1000)
True

What it owns: the training-time helpers of Example 01 (``EpisodeCaptureSchedule``,
``EpisodeAnimationRecorder``, ``TrainingCurveRecorder`` and their environment-variable builders)
with the document's names, arguments, file names and JSON keys, drawn with Pillow (GIFs) and
matplotlib (SVG and PNG curves); and :func:`record_episodes`, a Gymnasium wrapper that logs
scheduled episodes as videos. Given a run (or with one current), recorders also log what they
write into it, so the viewer shows it live.

What it may import: the store (through a :class:`~labtrack.Run`), ``labtrack.current_run`` and
``labtrack.errors``; never the reverse. Pillow, matplotlib and gymnasium load when first used,
so ``import labtrack.media`` costs numpy only.

Failure boundary: a recorder never stops training. Bad frames (mixed shapes, a frame that is not
an image), a zero fps, an unwritable directory or a run that refuses the record are reported once
per kind of problem through the ``labtrack`` logger, naming the episode and the problem (later
ones at debug level), counted in ``recorder.failures``, and the call returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._animation import EpisodeAnimationRecorder
from ._curves import TrainingCurveRecorder, moving_average
from ._fromenv import animation_recorder_from_env, curve_recorder_from_env
from ._schedule import EpisodeCaptureSchedule
from ._trace import EpisodeStep, EpisodeTrace

if TYPE_CHECKING:
    from ._gym import EpisodeRecorder

__all__ = [
    "EpisodeAnimationRecorder",
    "EpisodeCaptureSchedule",
    "EpisodeRecorder",
    "EpisodeStep",
    "EpisodeTrace",
    "TrainingCurveRecorder",
    "animation_recorder_from_env",
    "curve_recorder_from_env",
    "moving_average",
    "record_episodes",
]


def record_episodes(env: Any, schedule: EpisodeCaptureSchedule, **kwargs: Any) -> EpisodeRecorder:
    """Wrap a Gymnasium ``env`` so that the scheduled episodes are logged as videos.

    >>> env = record_episodes(gym.make("CartPole-v1", render_mode="rgb_array"),  # doctest: +SKIP
    ...                       EpisodeCaptureSchedule(every_n_episodes=10), run=run)

    See :class:`~labtrack.media._gym.EpisodeRecorder` for the keyword arguments. Needs
    ``gymnasium`` (``pip install "labtrack[media]"``).
    """
    from ._gym import EpisodeRecorder

    return EpisodeRecorder(env, schedule, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "EpisodeRecorder":  # imports gymnasium: only on request
        from ._gym import EpisodeRecorder

        return EpisodeRecorder
    raise AttributeError(f"module 'labtrack.media' has no attribute {name!r}")
