"""What the recorders read from an episode.

The recorders duck-type: anything with these attributes works (a user's own trace type needs no
change). These dataclasses are a ready-made container with exactly those fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class EpisodeStep:
    """One step of an episode: the action taken and the option active when it was taken."""

    action: Any = None
    active_option_id: Any = None


@dataclass(slots=True)
class EpisodeTrace:
    """One finished episode, as :class:`EpisodeAnimationRecorder` reads it.

    >>> trace = EpisodeTrace(episode=7, episode_reward=21.4, avg_reward=18.0, step_count=21)
    >>> trace.solved, len(trace.frames)
    (False, 0)
    """

    episode: int
    episode_reward: float
    avg_reward: float
    step_count: int = 0
    solved: bool = False
    frames: Sequence[Any] = field(default_factory=list)  # H×W[×C] arrays or PIL images
    steps: Sequence[EpisodeStep] = field(default_factory=list)
    metadata: Mapping[str, Any] = field(default_factory=dict)
