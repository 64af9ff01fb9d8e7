"""TrainingCurveRecorder: reward, training-state and metric curves of a whole training run.

Histories are kept as the document keeps them (one float per episode; a metric first seen late
is back-filled with NaN). ``save()`` draws each figure with matplotlib (the Agg backend, through
``matplotlib.figure.Figure``, so no pyplot state is touched) as SVG and PNG at the document's
960×540 pixels, and writes the history JSON with the document's keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._report import Reporter

_RAW_SERIES_OPACITY = 0.25
_RAW_SERIES_WIDTH = 1.5
_AVG_SERIES_WIDTH = 2.75
_COMPONENTS = ("perception", "value_function", "reactive_policy", "transition_model")


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` finite values (NaN where there are none).

    >>> moving_average([1.0, float("nan"), 3.0, 5.0], 2)
    [1.0, 1.0, 3.0, 4.0]

    Vectorised with cumulative sums: O(n), where the document's loop was O(n·window).
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return []
    window = max(int(window), 1)
    finite = np.isfinite(data)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, data, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    end = np.arange(1, data.size + 1)
    start = np.maximum(end - window, 0)
    total, count = sums[end] - sums[start], counts[end] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return [float(v) for v in out]


def metric_snapshot(agent: Any) -> dict[str, float]:
    """Each component's ``training_metrics()``, finite numbers only; missing ones skipped."""
    metrics: dict[str, float] = {}
    for component_name in _COMPONENTS:
        component = getattr(agent, component_name, None)
        metric_fn = getattr(component, "training_metrics", None)
        if not callable(metric_fn):
            continue
        for key, value in dict(metric_fn()).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                metrics[str(key)] = number
    return metrics


@dataclass(slots=True)
class TrainingCurveRecorder:
    """Persist reward and moving-average curves for a full training run.

    >>> curves = TrainingCurveRecorder(Path("out/curves"), average_window=100, run=run)  # doctest: +SKIP
    >>> for episode in range(n):  # doctest: +SKIP
    ...     curves.log_episode(episode, reward, avg_reward, agent)
    >>> curves.save()  # doctest: +SKIP

    ``log_episode`` reads ``agent.reactive_policy.epsilon``, the number of
    ``agent.reactive_policy._options`` and each component's ``training_metrics()`` (missing ones
    are skipped); every ``checkpoint_every`` episodes it writes
    ``<prefix>_reward_history_checkpoint.json``. ``save()`` writes ``<prefix>_reward_curve``,
    ``<prefix>_training_state`` and ``<prefix>_<metric>`` as ``.svg`` and ``.png``, and
    ``<prefix>_reward_history.json``. With ``run`` (or a current run) each episode is also
    logged as scalars ``episode/reward``, ``episode/avg_reward``, ``episode/epsilon``,
    ``episode/options`` and ``episode/<metric>`` at step ``episode``, and ``save()`` logs the
    reward curve as the figure ``<prefix>/reward_curve``.
    """

    output_dir: Path
    prefix: str = "training"
    average_window: int = 100
    reward_color: str = "#264653"
    average_color: str = "#2a9d8f"
    epsilon_color: str = "#e76f51"
    option_color: str = "#457b9d"
    reward_history: list[float] = field(default_factory=list)
    average_history: list[float] = field(default_factory=list)
    epsilon_history: list[float] = field(default_factory=list)
    option_history: list[float] = field(default_factory=list)
    metric_histories: dict[str, list[float]] = field(default_factory=dict)
    checkpoint_every: int = 0
    metric_colors: dict[str, str] = field(
        default_factory=lambda: {
            "perception_encoder_loss": "#8a5cf6",
            "value_q_omega_loss": "#c0392b",
            "value_gvf_loss": "#d35400",
            "policy_q_loss": "#2980b9",
            "policy_termination_loss": "#16a085",
            "model_loss": "#7f8c8d",
            "model_done_loss": "#34495e",
        }
    )
    run: Any = None  # a labtrack Run; None: the current run, if any
    failures: int = field(default=0, init=False)
    _reporter: Reporter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self._reporter = Reporter(f"curve recorder {self.prefix!r}")

    def log_episode(
        self, episode: int, reward: float, avg_reward: float, agent: Any = None
    ) -> None:
        """Record one episode's aggregate metrics."""
        current_episode = int(episode)
        policy = getattr(agent, "reactive_policy", None)
        self.reward_history.append(float(reward))
        self.average_history.append(float(avg_reward))
        self.epsilon_history.append(float(getattr(policy, "epsilon", 0.0)))
        self.option_history.append(float(len(getattr(policy, "_options", {}))))
        current_metrics = metric_snapshot(agent)
        episode_count = len(self.reward_history)
        for metric_name in current_metrics:
            self.metric_histories.setdefault(metric_name, [float("nan")] * (episode_count - 1))
        for metric_name, history in self.metric_histories.items():
            history.append(float(current_metrics.get(metric_name, float("nan"))))
        self._log_to_run(current_episode, current_metrics)
        if self.checkpoint_every > 0 and (current_episode + 1) % self.checkpoint_every == 0:
            self.save_checkpoint()

    def _history_payload(self) -> dict[str, Any]:
        return {
            "average_window": self.average_window,
            "episodes": len(self.reward_history),
            "reward_history": self.reward_history,
            "average_history": self.average_history,
            "epsilon_history": self.epsilon_history,
            "option_history": self.option_history,
            "metric_histories": self.metric_histories,
            "best_reward": max(self.reward_history),
            "final_reward": self.reward_history[-1],
            "final_average": self.average_history[-1],
        }

    def save_checkpoint(self) -> None:
        """Write the raw training histories without rendering plots."""
        if not self.reward_history:
            return
        payload = self._history_payload()
        payload["checkpoint"] = True
        self._write_json(f"{self.prefix}_reward_history_checkpoint.json", payload)

    def save(self) -> None:
        """Write SVG and PNG plots and the raw history JSON (see the class docstring)."""
        if not self.reward_history:
            return
        try:
            self._save_figures()
        except OSError as exc:
            self._failed("write", f"cannot write the curves in {self.output_dir}", exc)
            return
        self._write_json(f"{self.prefix}_reward_history.json", self._history_payload())

    def _save_figures(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        window = self.average_window
        reward = _plot(
            f"{self.prefix} reward over episodes",
            "Episode",
            "Reward",
            [
                (
                    "reward",
                    self.reward_history,
                    self.reward_color,
                    _RAW_SERIES_OPACITY,
                    _RAW_SERIES_WIDTH,
                ),
                (
                    f"avg{window}",
                    moving_average(self.reward_history, window),
                    self.average_color,
                    1.0,
                    _AVG_SERIES_WIDTH,
                ),
            ],
        )
        self._save_figure(reward, f"{self.prefix}_reward_curve")
        self._log_figure(reward)
        state = _plot(
            f"{self.prefix} exploration and option count",
            "Episode",
            "Value",
            [
                ("epsilon", self.epsilon_history, self.epsilon_color, 1.0, 2.5),
                ("options", self.option_history, self.option_color, 1.0, 2.5),
            ],
        )
        self._save_figure(state, f"{self.prefix}_training_state")
        for metric_name, history in sorted(self.metric_histories.items()):
            if not history:
                continue
            label = metric_name.replace("_", " ")
            color = self.metric_colors.get(metric_name, "#6b7280")
            figure = _plot(
                f"{self.prefix} {label} over episodes",
                "Episode",
                label,
                [
                    (f"{label} raw", history, color, _RAW_SERIES_OPACITY, _RAW_SERIES_WIDTH),
                    (
                        f"{label} avg{window}",
                        moving_average(history, window),
                        color,
                        1.0,
                        _AVG_SERIES_WIDTH,
                    ),
                ],
            )
            self._save_figure(figure, f"{self.prefix}_{metric_name}")

    def _save_figure(self, figure: Any, name: str) -> None:
        import matplotlib

        with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text, as in the document
            for suffix in ("svg", "png"):
                figure.savefig(self.output_dir / f"{name}.{suffix}", format=suffix, dpi=100)

    def _write_json(self, name: str, payload: dict[str, Any]) -> None:
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / name).write_text(json.dumps(payload, indent=2) + "\n")
        except OSError as exc:
            self._failed("write", f"cannot write {self.output_dir / name}", exc)

    def _target(self) -> Any:
        from .._run import current_run

        return self.run if self.run is not None else current_run()

    def _log_to_run(self, episode: int, metrics: dict[str, float]) -> None:
        run = self._target()
        if run is None:
            return
        values = {
            "episode/reward": self.reward_history[-1],
            "episode/avg_reward": self.average_history[-1],
            "episode/epsilon": self.epsilon_history[-1],
            "episode/options": self.option_history[-1],
            **{f"episode/{name}": value for name, value in metrics.items()},
        }
        try:
            run.log(values, step=episode)
        except Exception as exc:  # the boundary: a run that refuses must not stop training
            self._failed("run", f"episode {episode}: curve point not logged to run", exc)

    def _log_figure(self, figure: Any) -> None:
        run = self._target()
        if run is None:
            return
        try:
            step = max(len(self.reward_history) - 1, 0)
            run.log_figure(f"{self.prefix}/reward_curve", figure, step=step)
        except Exception as exc:  # as in _log_to_run
            self._failed("run", "reward curve not logged to run", exc)

    def _failed(self, kind: str, message: str, exc: BaseException) -> None:
        self._reporter.failed(kind, message, exc)
        self.failures = self._reporter.failures


def _plot(title: str, x_label: str, y_label: str, series: list[tuple[Any, ...]]) -> Any:
    """A 960×540 line chart: (label, values, color, opacity, width) per series."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.6, 5.4), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for label, values, color, opacity, width in series:
        data = np.asarray(values, dtype=np.float64)
        axes.plot(
            np.arange(data.size), data, color=color, alpha=opacity, linewidth=width, label=label
        )
    axes.set_title(title, loc="left", fontweight="bold")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, color="#d7dde5", linewidth=0.8)
    axes.legend(loc="upper right")
    return figure
