"""Which training episodes produce artifacts."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(slots=True, frozen=True)
class EpisodeCaptureSchedule:
    """Select which training episodes should produce artifacts.

    >>> s = EpisodeCaptureSchedule(episode_indices=(3,), every_n_episodes=100, last_n_episodes=2)
    >>> [e for e in range(1000) if s.should_capture(e, 1000)]
    [0, 3, 100, 200, 300, 400, 500, 600, 700, 800, 900, 998, 999]

    An episode is captured when it is listed, when ``episode % every_n_episodes == 0``, or when
    it is one of the last ``last_n_episodes`` of ``total_episodes``. ``None`` or 0 turns a rule
    off; a negative count is a :class:`~labtrack.errors.ConfigError` naming the field.
    """

    episode_indices: tuple[int, ...] = ()  # episodes always captured
    every_n_episodes: int | None = None  # every N-th episode, from episode 0
    last_n_episodes: int = 0  # the last N of the run's total

    def __post_init__(self) -> None:
        indices = tuple(self.episode_indices)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise ConfigError(f"episode_indices must be ints, got {indices!r}")
        object.__setattr__(self, "episode_indices", indices)
        for name in ("every_n_episodes", "last_n_episodes"):
            value = getattr(self, name)
            if value is None and name == "every_n_episodes":
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an int, got {value!r}")
            if value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")

    def should_capture(self, episode: int, total_episodes: int) -> bool:
        if episode in self.episode_indices:
            return True
        if self.every_n_episodes and episode % self.every_n_episodes == 0:
            return True
        return self.last_n_episodes > 0 and episode >= max(total_episodes - self.last_n_episodes, 0)
